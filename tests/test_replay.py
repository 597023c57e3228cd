"""Bulk replay: a subscriber that was down, fixed, and everything it missed redelivered once, paced."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from temporalio.common import WorkflowIDReusePolicy
from temporalio.testing import ActivityEnvironment

from activities.replays import ReplayActivities
from event_triggers.config import Settings
from event_triggers.replay_models import (
    LIST_ORIGINALS,
    MEMO_REPLAY,
    REDELIVER_ORIGINALS,
    REPLAY_WORKFLOW_TYPE,
    Replay,
    ReplayBatch,
    ReplayRequest,
)
from event_triggers.security.client_credentials import INVOCATION_STATUS_READ, SUBSCRIPTIONS_READ
from tests.conftest import RunningApi, wait_until
from tests.invocation_fixtures import FNF_INPUT, FNF_TRIGGER, create_subscription, error_text, finished, start
from tests.subscriber import Reply, Subscriber
from tests.test_metrics import delta, scrape

REPLAYS = "/trigger-invocations/v1/replays"
FAST = 1000.0
"""Redeliveries per second in most tests: pacing must not cost them time."""


@pytest.fixture
def settings(
    request: pytest.FixtureRequest, make_settings: Callable[..., Settings], sqlite_url: str
) -> Settings:
    """One attempt per invocation: the first retry would come after the fire-and-forget window closed."""
    return make_settings(
        database_url=sqlite_url,
        fire_and_forget_retry_window="PT30S",
        retry_initial_interval="PT60S",
        retry_max_interval="PT60S",
        replay_rate=getattr(request, "param", FAST),
    )


def iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


@dataclass
class Outage:
    """Invocations that failed while their subscriber was down; it is back up now."""

    subscription_id: str
    original_ids: list[str]
    path: str
    since: datetime


async def outage(api: httpx.AsyncClient, subscriber: Subscriber, count: int) -> Outage:
    """``count`` invocations FAILED on a subscriber answering 503, which answers 200 from then on."""
    since = datetime.now(UTC)  # the same clock as the Temporal server's: only this test's invocations
    path = subscriber.new_path(*[Reply(status=503, body=b"down for maintenance")] * count)
    subscription_id = await create_subscription(api, url=subscriber.url(path))
    started = await asyncio.gather(
        *(start(api, trigger_id=FNF_TRIGGER, payload=FNF_INPUT) for _ in range(count))
    )
    original_ids = [invocation["id"] for [invocation] in started]
    for detail in await asyncio.gather(*(finished(api, item) for item in original_ids)):
        assert detail["status"] == "FAILED", detail

    async def all_listed() -> bool:  # visibility has them all, as a replay's count will
        response = await api.get(
            "/trigger-invocations/v1/status",
            params={"filters": f'subscriptionId eq "{subscription_id}"', "count": "true"},
        )
        return response.headers.get("X-Total-Count") == str(count)

    await wait_until(all_listed, timeout=30, interval=0.2)
    return Outage(subscription_id, original_ids, path, since)


async def replay_state(api: httpx.AsyncClient, replay_id: str) -> dict[str, Any]:
    response = await api.get(f"{REPLAYS}/{replay_id}")
    assert response.status_code == 200, response.text
    state: dict[str, Any] = response.json()
    return state


async def finished_replay(api: httpx.AsyncClient, replay_id: str) -> dict[str, Any]:
    async def done() -> dict[str, Any] | None:
        state = await replay_state(api, replay_id)
        return state if state["status"] != "RUNNING" else None

    state: dict[str, Any] = await wait_until(done, timeout=60, interval=0.2)
    return state


def delivered_ids(subscriber: Subscriber, path: str) -> list[str]:
    return [request.json()["_metadata"]["invocationId"] for request in subscriber.received(path)]


async def test_replay_redelivers_each_failed_invocation_once(
    api: httpx.AsyncClient, subscriber: Subscriber, running_api: RunningApi
) -> None:
    down = await outage(api, subscriber, 4)
    [completed] = await start(api, trigger_id=FNF_TRIGGER, payload=FNF_INPUT)  # not replayed: not failed
    assert (await finished(api, completed["id"]))["status"] == "COMPLETED"

    response = await api.post(
        REPLAYS,
        json={
            "triggerId": FNF_TRIGGER,
            "subscriptionId": down.subscription_id,
            "from": iso(down.since),
            "to": iso(datetime.now(UTC) + timedelta(minutes=1)),
        },
    )
    assert response.status_code == 202, response.text
    accepted = response.json()
    replay_id = accepted["id"]
    assert accepted == {"id": replay_id, "status": "RUNNING", "total": 4, "replayed": 0, "failed": 0}
    final = {"id": replay_id, "status": "COMPLETED", "total": 4, "replayed": 4, "failed": 0}
    assert await finished_replay(api, replay_id) == final

    await subscriber.wait_for(down.path, 4 + 1 + 4)  # the 503s, the completed one, the redeliveries
    redeliveries = delivered_ids(subscriber, down.path)[5:]
    details = await asyncio.gather(*(finished(api, item) for item in redeliveries))
    assert {detail["status"] for detail in details} == {"COMPLETED"}
    assert sorted(detail["redeliveryOf"] for detail in details) == sorted(down.original_ids)
    assert len(subscriber.received(down.path)) == 9

    # Resumed: the same batch again (a retried activity), then the whole replay again under its id,
    # one original per page and continuing as new after each batch. Nothing is redelivered twice.
    context = await running_api.state.invocation_context()
    again = await ActivityEnvironment().run(
        ReplayActivities(context).redeliver_originals,
        ReplayBatch(replay_id=replay_id, original_ids=down.original_ids),
    )
    assert sorted(item.invocation_id for item in again.redelivered) == sorted(redeliveries)
    assert again.not_redelivered == []
    handle = context.client.get_workflow_handle(replay_id)
    history = await handle.fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    [first_run] = await context.client.data_converter.decode(started.input.payloads, [ReplayRequest])
    rerun = await context.client.start_workflow(
        REPLAY_WORKFLOW_TYPE,
        first_run.model_copy(update={"page_size": 1, "history_limit": 1}),
        id=replay_id,
        task_queue=context.settings.task_queue,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        memo={MEMO_REPLAY: first_run.progress.model_dump(mode="json")},
        result_type=Replay,
    )
    assert (await asyncio.wait_for(rerun.result(), timeout=60)).model_dump(mode="json") == final
    assert await replay_state(api, replay_id) == final
    assert len(subscriber.received(down.path)) == 9


@pytest.mark.parametrize("settings", [0.2], indirect=True)
async def test_cancel_stops_a_replay_mid_way(api: httpx.AsyncClient, subscriber: Subscriber) -> None:
    down = await outage(api, subscriber, 3)
    body = {"subscriptionId": down.subscription_id, "from": iso(down.since), "to": iso(datetime.now(UTC))}
    response = await api.post(REPLAYS, json=body)
    assert response.status_code == 202, response.text
    replay_id = response.json()["id"]
    await subscriber.wait_for(down.path, 3 + 1)  # the first batch; the next one is 5 s away at 0.2/s

    canceled = await api.delete(f"{REPLAYS}/{replay_id}")
    assert canceled.status_code == 202, canceled.text
    state = canceled.json()
    assert (state["status"], state["total"], state["failed"]) == ("CANCELED", 3, 0)
    assert 1 <= state["replayed"] < 3
    assert await replay_state(api, replay_id) == state
    again = await api.delete(f"{REPLAYS}/{replay_id}")
    assert again.status_code == 409 and "already CANCELED" in error_text(again)
    # The replay has closed: what it started is all there will be.
    await subscriber.wait_for(down.path, 3 + state["replayed"])
    assert len(subscriber.received(down.path)) == 3 + state["replayed"]


async def test_an_original_that_cannot_be_redelivered_counts_as_failed(
    api: httpx.AsyncClient, subscriber: Subscriber
) -> None:
    down = await outage(api, subscriber, 2)
    assert (await api.delete(f"/trigger-subscriptions/v1/{down.subscription_id}")).status_code == 204
    body = {
        "triggerId": FNF_TRIGGER,
        "statuses": ["FAILED"],
        "from": iso(down.since),
        "to": iso(datetime.now(UTC)),
    }
    response = await api.post(REPLAYS, json=body)
    assert response.status_code == 202, response.text
    final = await finished_replay(api, response.json()["id"])
    assert (final["status"], final["total"], final["replayed"], final["failed"]) == ("COMPLETED", 2, 0, 2)


async def test_replay_requests_are_checked(
    api: httpx.AsyncClient, running_api: RunningApi, subscriber: Subscriber
) -> None:
    now = datetime.now(UTC)
    window = {"from": iso(now - timedelta(hours=1)), "to": iso(now)}
    subscription_id = await create_subscription(api, url=subscriber.url(subscriber.new_path()))
    for body, field in (
        ({**window, "statuses": ["PENDING"]}, "statuses: PENDING is not a final status"),
        ({**window, "statuses": []}, "statuses: name at least one"),
        ({**window, "statuses": ["LOST"]}, "statuses.0:"),
        ({"from": window["to"], "to": window["from"]}, "from: must be before to"),
        ({"from": "yesterday", "to": window["to"]}, "from:"),
        ({"from": "2026-11-26T10:00:00", "to": window["to"]}, "from:"),
        ({"from": window["from"]}, "to: is required"),
        ({**window, "triggerId": "idn:nothing-like-it"}, "triggerId: unknown trigger"),
        ({**window, "subscriptionId": "0b9e6a38-0000-4000-8000-000000000000"}, "subscriptionId: unknown"),
        (
            {**window, "subscriptionId": subscription_id, "triggerId": "idn:access-request-dynamic-approver"},
            "subscriptionId:",
        ),
        ({**window, "replayAll": True}, "replayAll:"),
    ):
        response = await api.post(REPLAYS, json=body)
        assert response.status_code == 400, (body, response.text)
        assert error_text(response).startswith(field), (body, error_text(response))

    unknown = "0b9e6a38-0000-4000-8000-000000000000"
    for method in ("GET", "DELETE"):
        response = await api.request(method, f"{REPLAYS}/{unknown}")
        assert response.status_code == 404 and f"replay {unknown} not found" in error_text(response)
    # /replays/{id} is a replay, never an invocation's action (``/{invocation_id}/attempts``)
    attempts = await api.get(f"{REPLAYS}/attempts")
    assert attempts.status_code == 404 and "replay attempts not found" in error_text(attempts)

    async with await running_api.client(INVOCATION_STATUS_READ) as reader:
        assert (await reader.get(f"{REPLAYS}/{unknown}")).status_code == 404
        assert (await reader.post(REPLAYS, json=window)).status_code == 403
        assert (await reader.delete(f"{REPLAYS}/{unknown}")).status_code == 403
    async with await running_api.client(SUBSCRIPTIONS_READ) as outsider:
        assert (await outsider.get(f"{REPLAYS}/{unknown}")).status_code == 403


async def test_metrics_count_the_redeliveries_not_the_replay(
    api: httpx.AsyncClient, subscriber: Subscriber, running_api: RunningApi
) -> None:
    down = await outage(api, subscriber, 2)
    before = await scrape(running_api.base_url)
    body = {"subscriptionId": down.subscription_id, "from": iso(down.since), "to": iso(datetime.now(UTC))}
    response = await api.post(REPLAYS, json=body)
    assert response.status_code == 202, response.text
    assert (await finished_replay(api, response.json()["id"]))["replayed"] == 2
    for item in delivered_ids(subscriber, down.path)[2:]:
        assert (await finished(api, item))["status"] == "COMPLETED"

    after = await scrape(running_api.base_url)
    assert delta(before, after, "event_triggers_deliveries_total", destination="HTTP", outcome="success") == 2
    assert (
        delta(
            before, after, "event_triggers_invocations_started_total", trigger=FNF_TRIGGER, type="REAL_TIME"
        )
        == 2
    )
    assert (
        delta(
            before,
            after,
            "event_triggers_invocations_finished_total",
            trigger=FNF_TRIGGER,
            status="COMPLETED",
        )
        == 2
    )
    labels = {value for (name, pairs) in after if name.startswith("event_triggers_") for _, value in pairs}
    assert not labels & {REPLAY_WORKFLOW_TYPE, LIST_ORIGINALS, REDELIVER_ORIGINALS}, labels
