"""Workflow activations on the event loop's thread (``InlineActivations``,
``EVENT_TRIGGERS_WORKER_INLINE_ACTIVATIONS``): the executor's rules, then invocations that take several
workflow tasks (an answer at once, one by callback, a retry timer) through the real API and dev server, with
activations inline and in the SDK's thread pool."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest

from event_triggers.config import Settings
from event_triggers.inline_activations import InlineActivations, watch_loop
from tests.invocation_fixtures import (
    FNF_INPUT,
    FNF_TRIGGER,
    RR_INPUT,
    RR_OUTPUT,
    RR_TRIGGER,
    create_subscription,
    finished,
    start,
)
from tests.subscriber import Reply, Subscriber


async def test_an_activation_runs_on_the_loop_thread_after_the_callers_step() -> None:
    ran_on: list[int] = []

    def activate(value: int) -> int:
        ran_on.append(threading.get_ident())
        return value * 2

    answer = asyncio.get_running_loop().run_in_executor(InlineActivations(), activate, 21)
    assert ran_on == [], "not inside the step that submitted it"
    assert await answer == 42
    assert ran_on == [threading.get_ident()]


async def test_a_failed_activation_reaches_the_caller_and_the_loop_stays_the_running_one() -> None:
    loop = asyncio.get_running_loop()

    def end_like_a_workflow_instance_then_fail() -> None:
        asyncio._set_running_loop(None)  # a workflow instance clears the slot when its activation ends
        raise ValueError("activation failed")

    with pytest.raises(ValueError, match="activation failed"):
        await loop.run_in_executor(InlineActivations(), end_like_a_workflow_instance_then_fail)
    assert asyncio.get_running_loop() is loop
    assert await asyncio.sleep(0, result="the loop still runs") == "the loop still runs"


def hold_the_loop(seconds: float) -> None:
    """What a workflow activation stuck in a loop does to the process's event loop."""
    time.sleep(seconds)


async def test_a_stalled_loop_is_reported_once_with_the_stack_that_holds_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def reports() -> list[str]:
        return [
            record.getMessage() for record in caplog.records if "has not taken a turn" in record.getMessage()
        ]

    with caplog.at_level(logging.ERROR, logger="event_triggers.inline_activations"):
        async with watch_loop(blocked_after=0.5):
            await asyncio.sleep(1.2)
            assert reports() == [], "a loop that keeps turning is not reported"
            hold_the_loop(1.5)
            await asyncio.sleep(0.3)
    [report] = reports()
    assert "in hold_the_loop" in report and "time.sleep(seconds)" in report, report


@pytest.fixture(params=[True, False], ids=["inline", "thread-pool"])
def settings(request: Any, make_settings: Callable[..., Settings], sqlite_url: str) -> Settings:
    return make_settings(
        database_url=sqlite_url,
        worker_inline_activations=request.param,
        retry_initial_interval=timedelta(milliseconds=200),
    )


async def test_invocations_of_several_workflow_tasks_complete(
    api: httpx.AsyncClient, subscriber: Subscriber
) -> None:
    """A DYNAMIC subscriber answers the first event at once and the second by callback."""
    path = subscriber.new_path(Reply(body=RR_OUTPUT), Reply(status=202))
    await create_subscription(api, url=subscriber.url(path), trigger_id=RR_TRIGGER, mode="DYNAMIC")
    answered = await api.post(
        "/trigger-invocations/v1/start",
        json={"triggerId": RR_TRIGGER, "input": RR_INPUT},
        params={"waitSeconds": 10},
    )
    assert answered.status_code == 200, answered.text
    [invocation] = answered.json()
    assert (invocation["status"], invocation["output"]) == ("COMPLETED", RR_OUTPUT), "answered in one call"

    [later] = await start(api, trigger_id=RR_TRIGGER, payload=RR_INPUT)
    await subscriber.wait_for(path, 2)
    called_back = await api.post(
        f"/trigger-invocations/v1/{later['id']}/complete",
        json={"secret": later["secret"], "output": RR_OUTPUT},
    )
    assert called_back.status_code == 204, called_back.text
    assert (await finished(api, later["id"]))["output"] == RR_OUTPUT

    retried_path = subscriber.new_path(Reply(status=503))
    await create_subscription(api, url=subscriber.url(retried_path))
    [retried] = await start(api, trigger_id=FNF_TRIGGER, payload=FNF_INPUT)
    assert (await finished(api, retried["id"]))["status"] == "COMPLETED"
    assert len(subscriber.received(retried_path)) == 2, "a 503, then the retry after its timer"
