"""Eager starts go before pollers (``EagerStartSlots``, ``EVENT_TRIGGERS_EAGER_START_WAIT``): the slot
rules on their own, then a burst through the real API, Temporal dev server and a slow loopback subscriber,
where every start runs its first workflow task at once only because it waits for a slot."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, cast

import httpx
import pytest
from temporalio.worker import SlotMarkUsedContext, SlotPermit, SlotReleaseContext, SlotReserveContext

from event_triggers.config import Settings
from event_triggers.eager_slots import EagerStartSlots
from tests.conftest import RunningApi
from tests.invocation_fixtures import FNF_INPUT, FNF_TRIGGER, create_subscription, finished, start
from tests.subscriber import Reply, Subscriber

RESERVE = cast(SlotReserveContext, None)  # the slot rules do not read the reservation's context
LONG = timedelta(seconds=30)


@dataclass(frozen=True)
class MarkUsed:
    slot_info: Any = "workflow task"
    permit: SlotPermit = field(default_factory=SlotPermit)


def take_for_a_task(slots: EagerStartSlots) -> None:
    """An eager start's slot, running its workflow task."""
    assert slots.try_reserve_slot(RESERVE) is not None
    slots.mark_slot_used(cast(SlotMarkUsedContext, MarkUsed()))


def task_finished(slots: EagerStartSlots) -> None:
    slots.release_slot(SlotReleaseContext(slot_info=cast(Any, "workflow task"), permit=SlotPermit()))


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_a_waiting_start_takes_the_freed_slot_before_a_poller() -> None:
    slots = EagerStartSlots(1)
    take_for_a_task(slots)
    admitted = asyncio.Event()
    leave = asyncio.Event()

    async def eager_start() -> None:
        async with slots.start_turn(wait=LONG):
            admitted.set()
            take_for_a_task(slots)  # the admitted start's slot is still free
            await leave.wait()

    starting = asyncio.create_task(eager_start())
    await settle()
    polling = asyncio.create_task(slots.reserve_slot(RESERVE))
    await settle()
    assert not admitted.is_set() and not polling.done(), "every slot is taken"

    task_finished(slots)
    await asyncio.wait_for(admitted.wait(), 5)
    await settle()
    assert not polling.done(), "the poller waits: the freed slot went to the start"

    leave.set()
    await starting
    task_finished(slots)
    await asyncio.wait_for(polling, 5)
    assert (slots.eager_taken, slots.eager_refused) == (2, 0)


async def test_a_start_goes_ahead_without_a_slot_after_its_wait() -> None:
    slots = EagerStartSlots(1)
    take_for_a_task(slots)
    loop = asyncio.get_running_loop()
    began = loop.time()
    async with slots.start_turn(wait=timedelta(milliseconds=200)):
        waited = loop.time() - began
        assert slots.try_reserve_slot(RESERVE) is None, "still full: Temporal queues this one's task"
    assert 0.15 <= waited < 5
    assert slots.eager_refused == 1
    task_finished(slots)
    take_for_a_task(slots)  # the start that went ahead spoke for no slot


async def test_a_start_does_not_wait_for_slots_that_idle_polls_hold() -> None:
    """A long poll holds its slot up to a minute without work: no slot is about to free."""
    slots = EagerStartSlots(1)
    await slots.reserve_slot(RESERVE)
    async with asyncio.timeout(1):
        async with slots.start_turn(wait=LONG):
            assert slots.try_reserve_slot(RESERVE) is None


async def test_a_slot_released_on_another_thread_wakes_the_waiting_start() -> None:
    slots = EagerStartSlots(1)
    take_for_a_task(slots)
    waiting = asyncio.create_task(slots.start_turn(wait=LONG).__aenter__())
    await settle()
    assert not waiting.done()
    threading.Thread(target=task_finished, args=(slots,)).start()
    await asyncio.wait_for(waiting, 5)


async def wait_in_turn(
    slots: EagerStartSlots, admitted: list[int], number: int, leave: asyncio.Event
) -> None:
    """A start that records its admission and takes its eager slot, whose task runs until ``leave``."""
    async with slots.start_turn(wait=LONG):
        admitted.append(number)
        take_for_a_task(slots)
    await leave.wait()
    task_finished(slots)


async def test_a_release_wakes_one_waiting_start_per_freed_slot_in_arrival_order() -> None:
    """A fan-out keeps many starts waiting: a release lets in as many as it frees slots, the longest
    waiting first, and the others stay asleep (waking all of them at every release cost CPU per
    delivery that grew with the fan-out)."""
    slots = EagerStartSlots(2)
    take_for_a_task(slots)
    take_for_a_task(slots)
    admitted: list[int] = []
    leave = asyncio.Event()
    waiting = [asyncio.create_task(wait_in_turn(slots, admitted, number, leave)) for number in range(20)]
    await settle()
    checks = 0
    admit_start = slots._admit_start

    def counted_admit_start() -> bool:
        nonlocal checks
        checks += 1
        return admit_start()

    slots._admit_start = counted_admit_start  # type: ignore[method-assign]
    task_finished(slots)
    await settle()
    assert (admitted, checks) == ([0], 1), "one slot freed: one start woke, and it was the first"
    task_finished(slots)
    await settle()
    assert (admitted, checks) == ([0, 1], 2)
    leave.set()
    await asyncio.wait_for(asyncio.gather(*waiting), 5)
    assert admitted == list(range(20))


async def test_a_woken_start_that_is_cancelled_passes_its_slot_on() -> None:
    slots = EagerStartSlots(2)
    take_for_a_task(slots)
    take_for_a_task(slots)  # still running below: a slot will free, so the starts keep waiting
    admitted: list[int] = []
    leave = asyncio.Event()
    first, second = (asyncio.create_task(wait_in_turn(slots, admitted, number, leave)) for number in range(2))
    await settle()
    task_finished(slots)  # on this thread: the first start's wake is set now, before it runs
    first.cancel()
    await settle()
    assert first.cancelled() and admitted == [1], "the freed slot went to the next start"
    leave.set()
    await asyncio.wait_for(second, 5)


SLOTS = 10
EVENTS = 24


@pytest.fixture(params=[timedelta(seconds=30), timedelta(0)], ids=["with-wait", "without-wait"])
def settings(request: Any, make_settings: Callable[..., Settings], sqlite_url: str) -> Settings:
    return make_settings(
        database_url=sqlite_url,
        worker_max_concurrent_deliveries=SLOTS,
        eager_start_wait=request.param,
    )


async def test_a_burst_wider_than_the_slots_starts_every_invocation_eagerly(
    settings: Settings, running_api: RunningApi, api: httpx.AsyncClient, subscriber: Subscriber
) -> None:
    """24 events at once, 10 slots (some held by idle polls), each delivery holding its slot 0.3 s: with
    the wait every first workflow task runs here at once; without it many queue at Temporal. Every
    invocation is delivered exactly once either way."""
    path = subscriber.new_path(default=Reply(delay=0.3))
    await create_subscription(api, url=subscriber.url(path))
    slots = (await running_api.state.invocation_context()).workflow_slots
    before = slots.eager_taken, slots.eager_refused
    answers = await asyncio.gather(
        *(start(api, trigger_id=FNF_TRIGGER, payload=FNF_INPUT) for _ in range(EVENTS))
    )
    invocation_ids = [invocation["id"] for answer in answers for invocation in answer]
    await subscriber.wait_for(path, EVENTS, within=60)
    delivered = [request.json()["_metadata"]["invocationId"] for request in subscriber.received(path)]
    assert sorted(delivered) == sorted(invocation_ids), "each invocation delivered exactly once"
    assert {(await finished(api, invocation_id))["status"] for invocation_id in invocation_ids} == {
        "COMPLETED"
    }
    taken, refused = slots.eager_taken - before[0], slots.eager_refused - before[1]
    if settings.eager_start_wait:
        assert (taken, refused) == (EVENTS, 0)
    else:
        assert refused > 0 and taken + refused == EVENTS
