"""Dead endpoints with real subscribers: disabled after a failure streak or a 410, paused not dropped,
announced as an ``event-triggers:subscription-disabled`` event, delivered once enabled again.

Tiny thresholds (``AUTO_DISABLE_AFTER`` 2 s, 3 failures); every wait is bounded, so a bug fails the test.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from api.ui.session import COOKIE_NAME
from event_triggers.auto_disable import GONE_REASON, SUBSCRIPTION_DISABLED_TRIGGER
from event_triggers.config import Settings
from tests.conftest import free_port, wait_until
from tests.invocation_fixtures import (
    FNF_INPUT,
    FNF_TRIGGER,
    RR_INPUT,
    RR_TRIGGER,
    create_subscription,
    error_text,
    finished,
    start,
)
from tests.subscriber import Reply, Subscriber

SUBSCRIPTIONS = "/trigger-subscriptions/v1"
MIN_FAILURES = 3


@pytest.fixture
def settings(
    make_settings: Callable[..., Settings], sqlite_url: str, request: pytest.FixtureRequest
) -> Settings:
    """Tiny thresholds; the fire-and-forget window is the test's parameter (60 s unless given)."""
    return make_settings(
        database_url=sqlite_url,
        auto_disable_after="PT2S",
        auto_disable_min_failures=MIN_FAILURES,
        fire_and_forget_retry_window=getattr(request, "param", "PT60S"),
        retry_max_interval="PT10S",  # lets a Retry-After hold a retry back
    )


async def read(api: httpx.AsyncClient, subscription_id: str) -> dict[str, Any]:
    response = await api.get(f"{SUBSCRIPTIONS}/{subscription_id}")
    assert response.status_code == 200, response.text
    subscription: dict[str, Any] = response.json()
    return subscription


async def enable(api: httpx.AsyncClient, subscription_id: str, enabled: bool = True) -> dict[str, Any]:
    response = await api.patch(
        f"{SUBSCRIPTIONS}/{subscription_id}",
        json=[{"op": "replace", "path": "/enabled", "value": enabled}],
        headers={"Content-Type": "application/json-patch+json"},
    )
    assert response.status_code == 200, response.text
    subscription: dict[str, Any] = response.json()
    return subscription


async def disabled_by_410(api: httpx.AsyncClient, subscriber: Subscriber) -> tuple[str, str]:
    """A subscription whose subscriber answers 410 Gone once (then 200): disabled by its first event."""
    path = subscriber.new_path(Reply(status=410, body=b"this hook was removed"))
    subscription_id = await create_subscription(api, url=subscriber.url(path))
    [gone] = await start(api, trigger_id=FNF_TRIGGER, payload=FNF_INPUT)
    detail = await finished(api, gone["id"])
    assert (detail["status"], detail["error"]) == (
        "FAILED",
        "subscriber answered 410: this hook was removed",
    )
    subscription = await read(api, subscription_id)
    assert (subscription["enabled"], subscription["disabledReason"]) == (False, GONE_REASON)
    assert subscription["disabledAt"] is not None
    return subscription_id, path


async def paused(api: httpx.AsyncClient, invocation_id: str) -> dict[str, Any]:
    """The invocation once it waits for its subscription (bounded)."""

    async def waiting() -> dict[str, Any] | None:
        detail: dict[str, Any] = (await api.get(f"/trigger-invocations/v1/{invocation_id}")).json()
        return detail if detail.get("pausedReason") else None

    detail: dict[str, Any] = await wait_until(waiting, timeout=30, interval=0.2)
    return detail


@pytest.mark.parametrize("settings", ["PT1S"], indirect=True)
async def test_a_dead_subscriber_is_disabled_and_announced(
    api: httpx.AsyncClient, subscriber: Subscriber
) -> None:
    alerts = subscriber.new_path()
    await create_subscription(api, url=subscriber.url(alerts), trigger_id=SUBSCRIPTION_DISABLED_TRIGGER)
    dead_url = f"http://127.0.0.1:{free_port()}/hook"  # nothing listens there
    subscription_id = await create_subscription(api, url=dead_url, name="dead hook")

    async def fail_until_disabled() -> list[str]:
        errors = []
        while (await read(api, subscription_id))["enabled"]:
            [invocation] = await start(api, trigger_id=FNF_TRIGGER, payload=FNF_INPUT)
            detail = await finished(api, invocation["id"])
            assert detail["status"] == "FAILED"
            errors.append(detail["error"])
        return errors

    errors = await asyncio.wait_for(fail_until_disabled(), timeout=120)
    failures = len(errors)
    assert failures >= MIN_FAILURES
    subscription = await read(api, subscription_id)
    assert subscription["enabled"] is False and subscription["disabledAt"] is not None
    assert subscription["disabledReason"].startswith(f"its invocations failed {failures} times in a row")

    [alert] = await subscriber.wait_for(alerts, within=30)
    event = alert.json()
    assert event["_metadata"]["triggerId"] == SUBSCRIPTION_DISABLED_TRIGGER
    assert {key: event[key] for key in ("subscriptionId", "subscriptionName", "triggerId", "reason")} == {
        "subscriptionId": subscription_id,
        "subscriptionName": "dead hook",
        "triggerId": FNF_TRIGGER,
        "reason": subscription["disabledReason"],
    }
    assert event["lastError"] == errors[-1]


async def test_a_flapping_subscriber_is_never_disabled(
    api: httpx.AsyncClient, subscriber: Subscriber
) -> None:
    flapping = [Reply(status=400 if number % 2 == 0 else 200) for number in range(40)]
    path = subscriber.new_path(*flapping)
    subscription_id = await create_subscription(api, url=subscriber.url(path))

    async def flap() -> list[str]:
        """Events one after the other, for longer than AUTO_DISABLE_AFTER and more than MIN_FAILURES."""
        loop = asyncio.get_running_loop()
        began, statuses = loop.time(), list[str]()
        while loop.time() - began < 3 or statuses.count("FAILED") <= MIN_FAILURES:
            [invocation] = await start(api, trigger_id=FNF_TRIGGER, payload=FNF_INPUT)
            statuses.append((await finished(api, invocation["id"]))["status"])
        return statuses

    statuses = await asyncio.wait_for(flap(), timeout=120)
    assert statuses.count("FAILED") > MIN_FAILURES and "COMPLETED" in statuses
    subscription = await read(api, subscription_id)
    assert (subscription["enabled"], subscription["disabledReason"], subscription["disabledAt"]) == (
        True,
        None,
        None,
    )


async def test_410_disables_at_once_and_enabling_delivers_what_waited(
    api: httpx.AsyncClient, subscriber: Subscriber
) -> None:
    subscription_id, path = await disabled_by_410(api, subscriber)
    waiting = [await start(api, trigger_id=FNF_TRIGGER, payload=FNF_INPUT) for _ in range(2)]
    ids = [invocation["id"] for [invocation] in waiting]
    for invocation_id in ids:
        detail = await paused(api, invocation_id)
        assert detail["status"] == "PENDING" and GONE_REASON in detail["pausedReason"]
    [first_attempt] = (await api.get(f"/trigger-invocations/v1/{ids[0]}/attempts")).json()
    assert "waiting until it is enabled again" in first_attempt["error"]
    api.cookies.set(COOKIE_NAME, api.headers["Authorization"].removeprefix("Bearer "), path="/ui")
    page = (await api.get(f"/ui/subscriptions/{subscription_id}")).text
    assert 'id="disabled-reason"' in page and GONE_REASON in page, "the UI says why it is disabled"
    assert 'class="badge paused"' in (await api.get("/ui/subscriptions")).text
    assert GONE_REASON in (await api.get("/ui/")).text, "the overview lists it with its reason"
    assert 'id="paused-reason"' in (await api.get(f"/ui/invocations/{ids[0]}")).text
    assert len(subscriber.received(path)) == 1, "nothing is delivered while it is paused"

    test = await api.post(
        "/trigger-invocations/v1/test", json={"triggerId": FNF_TRIGGER, "subscriptionIds": [subscription_id]}
    )
    assert test.status_code == 200, test.text
    [probe] = test.json()
    assert (await finished(api, probe["id"]))["status"] == "COMPLETED", "a test reaches a paused subscriber"

    enabled = await enable(api, subscription_id)
    assert (enabled["enabled"], enabled["disabledReason"], enabled["disabledAt"]) == (True, None, None)
    for invocation_id in ids:
        detail = await finished(api, invocation_id, wait=30)
        assert (detail["status"], detail["pausedReason"]) == ("COMPLETED", None)
    delivered = {request.json()["_metadata"]["invocationId"] for request in subscriber.received(path)}
    assert set(ids) <= delivered


async def test_in_flight_retries_pause_instead_of_hammering(
    api: httpx.AsyncClient, subscriber: Subscriber
) -> None:
    path = subscriber.new_path(Reply(status=503, headers={"Retry-After": "5"}), Reply(status=410))
    subscription_id = await create_subscription(api, url=subscriber.url(path))
    [retrying] = await start(api, trigger_id=FNF_TRIGGER, payload=FNF_INPUT)
    await subscriber.wait_for(path, 1)
    [gone] = await start(api, trigger_id=FNF_TRIGGER, payload=FNF_INPUT)
    assert (await finished(api, gone["id"]))["status"] == "FAILED"
    assert (await read(api, subscription_id))["disabledReason"] == GONE_REASON

    detail = await paused(api, retrying["id"])
    assert detail["status"] == "PENDING"
    assert len(subscriber.received(path)) == 2, "the retry waits instead of calling the dead endpoint"
    await enable(api, subscription_id)
    assert (await finished(api, retrying["id"], wait=30))["status"] == "COMPLETED"
    assert len(subscriber.received(path)) == 3


@pytest.mark.parametrize("settings", ["PT2S"], indirect=True)
async def test_what_waits_fails_when_its_window_closes(
    api: httpx.AsyncClient, subscriber: Subscriber
) -> None:
    subscription_id, path = await disabled_by_410(api, subscriber)
    [invocation] = await start(api, trigger_id=FNF_TRIGGER, payload=FNF_INPUT)
    detail = await finished(api, invocation["id"], wait=30)
    assert (detail["status"], detail["error"]) == ("FAILED", "subscription disabled")
    assert len(subscriber.received(path)) == 1
    assert (await read(api, subscription_id))["disabledReason"] == GONE_REASON


async def test_a_request_waiting_for_a_paused_subscriber_fails_at_its_deadline(
    api: httpx.AsyncClient, subscriber: Subscriber
) -> None:
    path = subscriber.new_path(Reply(status=410))
    subscription_id = await create_subscription(
        api, url=subscriber.url(path), trigger_id=RR_TRIGGER, responseDeadline="PT3S"
    )
    [gone] = await start(api, trigger_id=RR_TRIGGER, payload=RR_INPUT)
    assert (await finished(api, gone["id"]))["status"] == "FAILED"
    assert (await read(api, subscription_id))["disabledReason"] == GONE_REASON
    [waiting] = await start(api, trigger_id=RR_TRIGGER, payload=RR_INPUT)
    detail = await finished(api, waiting["id"], wait=30)
    assert (detail["status"], detail["error"]) == ("FAILED", "subscription disabled")
    assert len(subscriber.received(path)) == 1


async def test_subscriptions_of_the_announcement_are_never_disabled(
    api: httpx.AsyncClient, subscriber: Subscriber
) -> None:
    alerts = subscriber.new_path(default=Reply(status=410))
    alert_id = await create_subscription(
        api, url=subscriber.url(alerts), trigger_id=SUBSCRIPTION_DISABLED_TRIGGER
    )
    await disabled_by_410(api, subscriber)
    [alert] = await subscriber.wait_for(alerts, within=30)
    detail = await finished(api, alert.json()["_metadata"]["invocationId"])
    assert detail["status"] == "FAILED"
    assert (await read(api, alert_id))["enabled"] is True, "a failing alert does not disable itself"


async def test_an_operators_disable_starts_nothing_and_disabled_fields_are_read_only(
    api: httpx.AsyncClient, subscriber: Subscriber
) -> None:
    path = subscriber.new_path()
    subscription_id = await create_subscription(api, url=subscriber.url(path))
    disabled = await enable(api, subscription_id, enabled=False)
    assert (disabled["enabled"], disabled["disabledReason"]) == (False, None)
    nothing = await api.post(
        "/trigger-invocations/v1/start", json={"triggerId": FNF_TRIGGER, "input": FNF_INPUT}
    )
    assert nothing.status_code == 204, "no invocation starts for a subscription an operator disabled"

    refused = await api.patch(
        f"{SUBSCRIPTIONS}/{subscription_id}",
        json=[{"op": "replace", "path": "/disabledReason", "value": "mine"}],
        headers={"Content-Type": "application/json-patch+json"},
    )
    assert refused.status_code == 400 and "disabledReason" in error_text(refused)
    put_back = await api.put(
        f"{SUBSCRIPTIONS}/{subscription_id}", json={**disabled, "disabledReason": "ignored", "enabled": True}
    )
    assert put_back.status_code == 200, put_back.text
    assert (put_back.json()["enabled"], put_back.json()["disabledReason"]) == (True, None)
