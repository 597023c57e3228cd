"""The attempt log: every delivery attempt of an invocation, read back through the API."""

from __future__ import annotations

import signal
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from event_triggers.config import Settings
from tests.conftest import RunningApi, free_port, wait_until
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
from tests.worker_process import WorkerProcesses


@pytest.fixture
def settings(make_settings: Callable[..., Settings], sqlite_url: str) -> Settings:
    """Fast retries, a 1 s answer time and a 3 s fire-and-forget window, so a dead subscriber gives up."""
    return make_settings(
        database_url=sqlite_url, delivery_timeout="PT1S", fire_and_forget_retry_window="PT3S"
    )


async def attempts_of(api: httpx.AsyncClient, invocation_id: str) -> list[dict[str, Any]]:
    response = await api.get(f"/trigger-invocations/v1/{invocation_id}/attempts")
    assert response.status_code == 200, response.text
    attempts: list[dict[str, Any]] = response.json()
    return attempts


def assert_log_shape(attempts: list[dict[str, Any]]) -> None:
    """Numbered from 1 in order, oldest first, each final-or-scheduled as its position says."""
    assert [item["attempt"] for item in attempts] == list(range(1, len(attempts) + 1))
    started = [datetime.fromisoformat(item["started"]) for item in attempts]
    assert started == sorted(started)
    for item in attempts[:-1]:
        assert item["error"] is not None
        assert datetime.fromisoformat(item["nextAttemptAt"]) > datetime.fromisoformat(item["started"])
    assert attempts[-1]["nextAttemptAt"] is None
    assert all(item["durationMs"] >= 0 for item in attempts)


async def test_flapping_subscriber_every_attempt_recorded(
    api: httpx.AsyncClient, subscriber: Subscriber
) -> None:
    path = subscriber.new_path(
        Reply(status=503, body=b"overloaded, come back later"), Reply(status=502, body=b"x" * 2000)
    )
    await create_subscription(api, url=subscriber.url(path))
    [invocation] = await start(api, trigger_id=FNF_TRIGGER, payload=FNF_INPUT)
    assert (await finished(api, invocation["id"]))["status"] == "COMPLETED"

    attempts = await attempts_of(api, invocation["id"])
    assert_log_shape(attempts)
    assert [(item["statusCode"], item["error"]) for item in attempts] == [
        (503, "subscriber answered 503: overloaded, come back later"),
        (502, "subscriber answered 502: " + "x" * 512),
        (200, None),
    ]
    assert len(subscriber.received(path)) == 3


async def test_subscriber_down_until_the_window_closes(api: httpx.AsyncClient) -> None:
    url = f"http://127.0.0.1:{free_port()}/nobody-listens"
    await create_subscription(api, url=url)
    [invocation] = await start(api, trigger_id=FNF_TRIGGER, payload=FNF_INPUT)
    detail = await finished(api, invocation["id"])
    assert detail["status"] == "FAILED"
    assert "no time left for another attempt" in detail["error"]

    attempts = await attempts_of(api, invocation["id"])
    assert len(attempts) >= 2, attempts
    assert_log_shape(attempts)
    assert all(item["statusCode"] is None for item in attempts)
    assert all(item["error"].startswith("cannot reach subscriber: ConnectError") for item in attempts[:-1])
    assert attempts[-1]["error"].endswith("no time left for another attempt")


async def test_410_gone_is_one_final_attempt(api: httpx.AsyncClient, subscriber: Subscriber) -> None:
    path = subscriber.new_path(Reply(status=410, body=b"this hook was removed"))
    await create_subscription(api, url=subscriber.url(path))
    [invocation] = await start(api, trigger_id=FNF_TRIGGER, payload=FNF_INPUT)
    assert (await finished(api, invocation["id"]))["status"] == "FAILED"
    [attempt] = await attempts_of(api, invocation["id"])
    assert (attempt["attempt"], attempt["statusCode"], attempt["nextAttemptAt"]) == (1, 410, None)
    assert attempt["error"] == "subscriber answered 410: this hook was removed"


async def test_slow_sync_subscriber_times_out_once(api: httpx.AsyncClient, subscriber: Subscriber) -> None:
    path = subscriber.new_path(Reply(body=RR_OUTPUT, delay=2.5))
    await create_subscription(api, url=subscriber.url(path), trigger_id=RR_TRIGGER, mode="SYNC")
    [invocation] = await start(api, trigger_id=RR_TRIGGER, payload=RR_INPUT)
    assert (await finished(api, invocation["id"]))["status"] == "FAILED"
    [attempt] = await attempts_of(api, invocation["id"])
    assert attempt["error"] == "subscriber did not answer within 1 s"
    assert attempt["statusCode"] is None
    assert attempt["durationMs"] >= 900, "the attempt lasted until the answer time ran out"


async def test_sync_answer_is_a_successful_attempt(api: httpx.AsyncClient, subscriber: Subscriber) -> None:
    path = subscriber.new_path(Reply(body=RR_OUTPUT))
    await create_subscription(api, url=subscriber.url(path), trigger_id=RR_TRIGGER, mode="SYNC")
    [invocation] = await start(api, trigger_id=RR_TRIGGER, payload=RR_INPUT)
    assert (await finished(api, invocation["id"]))["status"] == "COMPLETED"
    [attempt] = await attempts_of(api, invocation["id"])
    assert (attempt["statusCode"], attempt["error"], attempt["nextAttemptAt"]) == (200, None, None)


async def test_unknown_invocation_is_404_and_reading_needs_the_status_scope(
    api: httpx.AsyncClient, running_api: RunningApi
) -> None:
    response = await api.get("/trigger-invocations/v1/8d5c7e7a-0000-4000-8000-000000000000/attempts")
    assert response.status_code == 404, response.text
    async with await running_api.client("sp:trigger-service-subscriptions:read") as other:
        forbidden = await other.get("/trigger-invocations/v1/8d5c7e7a-0000-4000-8000-000000000000/attempts")
    assert forbidden.status_code == 403, forbidden.text


async def test_attempts_survive_a_killed_worker(
    make_settings: Callable[..., Settings], sqlite_url: str, subscriber: Subscriber, tmp_path: Path
) -> None:
    # The retry schedule travels with the invocation: the API's settings give the 3 s backoff.
    settings = make_settings(
        database_url=sqlite_url,
        embedded_worker=False,
        retry_initial_interval="PT3S",
        retry_max_interval="PT3S",
    )
    workers = WorkerProcesses(settings, tmp_path)
    try:
        async with RunningApi(settings) as running, await running.client() as api:
            path = subscriber.new_path(Reply(status=503), Reply(status=503))
            await create_subscription(api, url=subscriber.url(path))
            first = workers.start()
            [invocation] = await start(api, trigger_id=FNF_TRIGGER, payload=FNF_INPUT)
            await subscriber.wait_for(path, 1, within=30)

            async def first_attempt_logged() -> bool:
                return len(await attempts_of(api, invocation["id"])) == 1

            await wait_until(first_attempt_logged, timeout=20)
            first.send_signal(signal.SIGKILL)  # during the 3 s backoff after the first attempt
            first.wait(10)
            workers.start()

            async def completed() -> bool:
                """Long polls shorter than the client's timeout: a new worker process takes 10-25 s
                to start on the loaded machine, before the two remaining attempts."""
                detail = await api.get(
                    f"/trigger-invocations/v1/{invocation['id']}", params={"waitSeconds": 20}
                )
                return bool(detail.json()["status"] == "COMPLETED")

            await wait_until(completed, timeout=90)
            attempts = await attempts_of(api, invocation["id"])
            assert_log_shape(attempts)
            assert [item["statusCode"] for item in attempts] == [503, 503, 200]
    finally:
        workers.stop_all()
