"""Durability: SIGKILL the worker process mid-delivery; a new worker finishes every invocation.

At-least-once: a POST may arrive twice (counted and allowed), none may be lost. The API runs without
an embedded worker here, so the separate worker process is the only one.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from event_triggers.config import Settings
from tests.invocation_fixtures import FNF_INPUT, FNF_TRIGGER, create_subscription, finished, start
from tests.subscriber import Reply, Subscriber

EVENTS = 6
HOLD_SECONDS = 1.0


@pytest.fixture
def settings(make_settings: Callable[..., Settings], sqlite_url: str) -> Settings:
    return make_settings(database_url=sqlite_url, embedded_worker=False)


def worker_environment(settings: Settings) -> dict[str, str]:
    """The worker process's settings, as an operator would pass them: EVENT_TRIGGERS_* variables."""
    values = {
        "TEMPORAL_ADDRESS": settings.temporal_address,
        "TASK_QUEUE": settings.task_queue,
        "DATABASE_URL": settings.effective_database_url,
        "DATA_DIR": str(settings.data_dir),
        "RETRY_INITIAL_INTERVAL": "PT0.2S",
        "RETRY_MAX_INTERVAL": "PT1S",
        "DESTINATION_ALLOWLIST": json.dumps(["127.0.0.0/8"]),
    }
    return {**os.environ, **{f"EVENT_TRIGGERS_{key}": value for key, value in values.items()}}


class WorkerProcesses:
    """Starts ``event-triggers worker`` processes and makes sure none outlives the test."""

    def __init__(self, settings: Settings, log_dir: Path) -> None:
        self._environment = worker_environment(settings)
        self._log_dir = log_dir
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self) -> subprocess.Popen[bytes]:
        log = (self._log_dir / f"worker-{len(self.started)}.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "event_triggers.cli", "worker"],
            env=self._environment,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.started.append(process)
        return process

    def stop_all(self) -> None:
        for process in self.started:
            if process.poll() is None:
                process.kill()
                process.wait()


@pytest.fixture
def workers(settings: Settings, tmp_path: Path) -> Iterator[WorkerProcesses]:
    processes = WorkerProcesses(settings, tmp_path)
    yield processes
    processes.stop_all()


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
