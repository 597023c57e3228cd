"""Durability: SIGKILL the worker process mid-delivery; a new worker finishes every invocation.

At-least-once: a POST may arrive twice (counted and allowed), none may be lost. The API runs without
an embedded worker here, so the separate worker process is the only one.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
from collections import Counter
from collections.abc import Callable

import httpx
import pytest

from event_triggers.config import Settings
from tests.invocation_fixtures import FNF_INPUT, FNF_TRIGGER, create_subscription, finished, start
from tests.subscriber import Reply, Subscriber
from tests.worker_process import WorkerProcesses

EVENTS = 6
HOLD_SECONDS = 1.0


@pytest.fixture
def settings(make_settings: Callable[..., Settings], sqlite_url: str) -> Settings:
    return make_settings(database_url=sqlite_url, embedded_worker=False)


async def wait_for_exit(process: subprocess.Popen[bytes], *, within: float) -> int:
    return await asyncio.to_thread(process.wait, within)


async def test_kill_9_mid_delivery_loses_nothing(
    api: httpx.AsyncClient, subscriber: Subscriber, workers: WorkerProcesses
) -> None:
    path = subscriber.new_path(default=Reply(delay=HOLD_SECONDS))
    await create_subscription(api, url=subscriber.url(path))
    first_worker = workers.start()
    invocations = []
    for _ in range(EVENTS):
        invocations += await start(api, trigger_id=FNF_TRIGGER, payload=FNF_INPUT)

    await subscriber.wait_for(path, within=30)  # a delivery is in flight: the subscriber holds it
    first_worker.send_signal(signal.SIGKILL)
    assert await wait_for_exit(first_worker, within=5) == -signal.SIGKILL
    second_worker = workers.start()

    details = await asyncio.gather(*(finished(api, item["id"], wait=60) for item in invocations))
    assert [detail["status"] for detail in details] == ["COMPLETED"] * EVENTS
    deliveries = Counter(request.json()["_metadata"]["invocationId"] for request in subscriber.received(path))
    assert set(deliveries) == {item["id"] for item in invocations}, "every invocation reached the subscriber"
    duplicates = sum(count - 1 for count in deliveries.values())
    print(f"{EVENTS} invocations, {duplicates} duplicate POST(s) after the kill (at-least-once)")

    second_worker.send_signal(signal.SIGTERM)
    assert await wait_for_exit(second_worker, within=20) == 0, "SIGTERM stops the worker cleanly"
