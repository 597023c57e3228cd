"""What an invocation carries through Temporal is checked before any RPC; a partial start says what it did."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from event_triggers.config import Settings
from event_triggers.models import SubscriptionFields
from event_triggers.payload_limits import PayloadLimits
from tests.conftest import RunningApi
from tests.invocation_fixtures import (
    FNF_INPUT,
    FNF_TRIGGER,
    RR_OUTPUT,
    create_subscription,
    error_text,
    finished,
    start,
)
from tests.subscriber import Subscriber
from tests.test_invocations_callbacks import awaiting_invocation, complete_url

MIB = 1024 * 1024
DOCUMENT_LIMIT = PayloadLimits().document
"""960 KiB: what the session's dev server (Temporal's default limits) lets one invocation carry."""


@pytest.fixture
async def roomy_api(make_settings: Callable[..., Settings], sqlite_url: str) -> AsyncIterator[RunningApi]:
    """An API whose body limit (4 MiB) lets bodies through that Temporal could not carry."""
    async with RunningApi(make_settings(database_url=sqlite_url, max_request_bytes=4 * MIB)) as running:
        yield running


async def test_an_oversized_answer_is_refused_and_the_invocation_keeps_waiting(
    roomy_api: RunningApi, subscriber: Subscriber
) -> None:
    async with await roomy_api.client() as api:
        invocation = await awaiting_invocation(api, subscriber)
        huge = {**RR_OUTPUT, "name": "n" * (3 * MIB // 2)}
        refused = await api.post(
            complete_url(invocation), json={"secret": invocation["secret"], "output": huge}
        )
        assert refused.status_code == 413, refused.text
        assert error_text(refused).startswith("output:") and f"{DOCUMENT_LIMIT} bytes" in error_text(refused)
        huge_error = await api.post(
            complete_url(invocation), json={"secret": invocation["secret"], "error": "e" * (3 * MIB // 2)}
        )
        assert huge_error.status_code == 413 and error_text(huge_error).startswith("error:")

        waiting = (await api.get(f"/trigger-invocations/v1/{invocation['id']}")).json()
        assert waiting["status"] == "AWAITING_RESPONSE", "the refused answer changed nothing"
        good = await api.post(
            complete_url(invocation), json={"secret": invocation["secret"], "output": RR_OUTPUT}
        )
        assert good.status_code == 204, good.text
        detail = await finished(api, invocation["id"])
        assert (detail["status"], detail["output"]) == ("COMPLETED", RR_OUTPUT)


async def test_at_the_default_body_limit_a_large_answer_is_refused_the_same_way(
    api: httpx.AsyncClient, subscriber: Subscriber
) -> None:
    invocation = await awaiting_invocation(api, subscriber)
    huge = {**RR_OUTPUT, "name": "n" * (3 * MIB // 2)}
    refused = await api.post(complete_url(invocation), json={"secret": invocation["secret"], "output": huge})
    assert refused.status_code == 413 and "1048576 bytes" in error_text(refused), refused.text
    good = await api.post(
        complete_url(invocation), json={"secret": invocation["secret"], "output": RR_OUTPUT}
    )
    assert good.status_code == 204, good.text


async def test_an_event_temporal_could_not_carry_is_refused_before_anything_starts(
    roomy_api: RunningApi, subscriber: Subscriber
) -> None:
    async with await roomy_api.client() as api:
        path = subscriber.new_path()
        await create_subscription(api, url=subscriber.url(path))
        for size in (3 * MIB // 2, 5 * MIB // 2):
            big = {**FNF_INPUT, "padding": "p" * size}
            response = await api.post(
                "/trigger-invocations/v1/start", json={"triggerId": FNF_TRIGGER, "input": big}
            )
            assert response.status_code == 413, response.text
            assert error_text(response).startswith("input:") and f"{DOCUMENT_LIMIT} bytes" in error_text(
                response
            )
        [invocation] = await start(api, trigger_id=FNF_TRIGGER, payload=FNF_INPUT)
        await finished(api, invocation["id"])
        assert len(subscriber.received(path)) == 1, "only the event that fits was delivered"


async def test_a_start_that_fails_part_way_names_both_sides_and_a_keyed_retry_completes_it(
    running_api: RunningApi, api: httpx.AsyncClient, subscriber: Subscriber
) -> None:
    good_path, fixed_path = subscriber.new_path(), subscriber.new_path()
    good_id = await create_subscription(api, url=subscriber.url(good_path))
    broken_id = await create_subscription(api, url=subscriber.url(fixed_path))
    # A row written before names were bounded: its start alone would be over Temporal's limits.
    legacy = SubscriptionFields.model_validate(
        {
            "name": "n" * (3 * MIB),
            "triggerId": FNF_TRIGGER,
            "type": "HTTP",
            "httpConfig": {"url": subscriber.url(fixed_path), "httpDispatchMode": "SYNC"},
        }
    )
    await running_api.state.store.replace_subscription(subscription_id=broken_id, fields=legacy)

    key = {"Idempotency-Key": "partial-1"}
    body = {"triggerId": FNF_TRIGGER, "input": FNF_INPUT, "contentJson": {}}
    partial = await api.post("/trigger-invocations/v1/start", json=body, headers=key)
    assert partial.status_code == 503, partial.text
    text, causes = error_text(partial), [cause["text"] for cause in partial.json()["causes"]]
    assert text.startswith("started 1 of 2 invocations") and "same Idempotency-Key" in text
    assert [cause.split(":")[0] for cause in sorted(causes)] == ["not started", "started"]
    assert any(cause.startswith(f"started: subscription {good_id}") for cause in causes)
    assert any(cause.startswith(f"not started: subscription {broken_id}") for cause in causes)
    await subscriber.wait_for(good_path)

    fix = await api.patch(
        f"/trigger-subscriptions/v1/{broken_id}",
        json=[{"op": "replace", "path": "/name", "value": "fixed"}],
        headers={"Content-Type": "application/json-patch+json"},
    )
    assert fix.status_code == 200, fix.text
    retried = await api.post("/trigger-invocations/v1/start", json=body, headers=key)
    assert retried.status_code == 200, retried.text
    invocations = retried.json()
    assert len(invocations) == 2
    for invocation in invocations:
        assert (await finished(api, invocation["id"]))["status"] == "COMPLETED"
    [first_good] = [
        cause.split("invocation ")[1].rstrip(")") for cause in causes if cause.startswith("started")
    ]
    assert first_good in {item["id"] for item in invocations}, "the retry answers with the started invocation"
    again = await api.post("/trigger-invocations/v1/start", json=body, headers=key)
    assert sorted(item["id"] for item in again.json()) == sorted(item["id"] for item in invocations)
    assert (len(subscriber.received(good_path)), len(subscriber.received(fixed_path))) == (1, 1), (
        "every invocation finished, each subscriber got the event once"
    )
