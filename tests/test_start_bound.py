"""The process-wide bound on workflow starts in flight (``EVENT_TRIGGERS_MAX_CONCURRENT_STARTS``): a fan-out
wider than the bound still starts and delivers every invocation, and a start waits for a free turn instead
of failing. Real API, Temporal dev server and loopback subscriber."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
import pytest

from event_triggers.config import Settings
from tests.conftest import RunningApi
from tests.invocation_fixtures import FNF_INPUT, FNF_TRIGGER, create_subscription, finished, start
from tests.subscriber import Subscriber

BOUND = 2
SUBSCRIPTIONS = 7
EVENTS = 3


@pytest.fixture
def settings(make_settings: Callable[..., Settings], sqlite_url: str) -> Settings:
    return make_settings(database_url=sqlite_url, max_concurrent_starts=BOUND)


async def test_a_fan_out_wider_than_the_bound_delivers_to_every_subscription(
    api: httpx.AsyncClient, subscriber: Subscriber
) -> None:
    """3 concurrent events to 7 subscriptions each: 21 starts through 2 turns, none lost or repeated."""
    path = subscriber.new_path()
    subscription_ids = {
        await create_subscription(api, url=subscriber.url(path)) for _ in range(SUBSCRIPTIONS)
    }
    answers = await asyncio.gather(
        *(start(api, trigger_id=FNF_TRIGGER, payload=FNF_INPUT) for _ in range(EVENTS))
    )
    invocation_ids = {invocation["id"] for answer in answers for invocation in answer}
    assert [len(answer) for answer in answers] == [SUBSCRIPTIONS] * EVENTS
    assert len(invocation_ids) == SUBSCRIPTIONS * EVENTS

    await subscriber.wait_for(path, SUBSCRIPTIONS * EVENTS, within=60)
    delivered = [request.json()["_metadata"]["invocationId"] for request in subscriber.received(path)]
    assert sorted(delivered) == sorted(invocation_ids), "each invocation delivered exactly once"
    details = [await finished(api, invocation_id) for invocation_id in invocation_ids]
    assert {detail["status"] for detail in details} == {"COMPLETED"}
    assert {detail["subscriptionId"] for detail in details} == subscription_ids


async def test_a_start_waits_for_a_free_turn_then_delivers(
    running_api: RunningApi, api: httpx.AsyncClient, subscriber: Subscriber
) -> None:
    """With every turn taken (here by the test itself), an event is accepted only once one is free."""
    path = subscriber.new_path()
    await create_subscription(api, url=subscriber.url(path))
    turns = (await running_api.state.invocation_context()).start_slots
    for _ in range(BOUND):
        await turns.acquire()
    try:
        started = asyncio.create_task(start(api, trigger_id=FNF_TRIGGER, payload=FNF_INPUT))
        done, _ = await asyncio.wait({started}, timeout=1)
        assert not done and not subscriber.received(path), "no start while every turn is taken"
    finally:
        for _ in range(BOUND):
            turns.release()
    [invocation] = await started
    [request] = await subscriber.wait_for(path)
    assert request.json()["_metadata"]["invocationId"] == invocation["id"]
    assert (await finished(api, invocation["id"]))["status"] == "COMPLETED"
