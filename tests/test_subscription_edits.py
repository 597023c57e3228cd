"""An edit applies whole to the very next invocation, across API replicas, with the worker in its own process.

Two API replicas (each with its own store and subscription reader) and one ``event-triggers worker``
process, which does every delivery (no embedded worker, so no start is eager). Each edit is made on one
replica and followed at once by a start on the other: the delivery must use the edited configuration
whole (URL, response mode, auth, signing secret, filter), never the worker's or a replica's older copy.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from event_triggers.config import Settings
from event_triggers.security.webhook_signing import verify
from tests.conftest import RunningApi, wait_until
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

PATCH = {"Content-Type": "application/json-patch+json"}


@pytest.fixture
def settings(make_settings: Callable[..., Settings], sqlite_url: str) -> Settings:
    return make_settings(database_url=sqlite_url, embedded_worker=False)


@pytest.fixture
async def worker(
    settings: Settings, tmp_path: Path, temporal_client: Client
) -> AsyncIterator[WorkerProcesses]:
    """One ``event-triggers worker`` process, polling the task queue before the test starts anything."""
    processes = WorkerProcesses(settings, tmp_path)
    processes.start()
    request = DescribeTaskQueueRequest(
        namespace=settings.temporal_namespace,
        task_queue=TaskQueue(name=settings.task_queue),
        task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
    )

    async def polling() -> bool:
        return bool((await temporal_client.workflow_service.describe_task_queue(request)).pollers)

    try:
        await wait_until(polling, timeout=60, interval=0.2)
        yield processes
    finally:
        processes.stop_all()


@pytest.fixture
async def replicas(
    settings: Settings, worker: WorkerProcesses
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    async with (
        RunningApi(settings.model_copy()) as first,
        RunningApi(settings.model_copy()) as second,
        await first.client() as on_first,
        await second.client() as on_second,
    ):
        yield on_first, on_second


async def patch(api: httpx.AsyncClient, subscription_id: str, **changes: Any) -> None:
    operations = [{"op": "replace", "path": f"/{path}", "value": value} for path, value in changes.items()]
    response = await api.patch(f"/trigger-subscriptions/v1/{subscription_id}", json=operations, headers=PATCH)
    assert response.status_code == 200, response.text


async def test_each_edit_reaches_the_next_start_on_the_other_replica(
    replicas: tuple[httpx.AsyncClient, httpx.AsyncClient], subscriber: Subscriber
) -> None:
    edit_on, start_on = replicas
    answer = Reply(body=RR_OUTPUT)
    paths = [subscriber.new_path(default=answer) for _ in range(3)]
    subscription_id = await create_subscription(
        edit_on, url=subscriber.url(paths[0]), trigger_id=RR_TRIGGER, mode="SYNC"
    )

    async def deliver_once() -> tuple[str, dict[str, Any], dict[str, str]]:
        """Start on the other replica; the one request the subscriber got: path, metadata, headers."""
        before = {path: len(subscriber.received(path)) for path in paths}
        [invocation] = await start(start_on, trigger_id=RR_TRIGGER, payload=RR_INPUT)
        detail = await finished(start_on, invocation["id"], wait=25)
        assert (detail["status"], detail["output"]) == ("COMPLETED", RR_OUTPUT), detail
        [(path, request)] = [
            (path, request) for path in paths for request in subscriber.received(path)[before[path] :]
        ]
        return path, request.json()["_metadata"], request.headers

    path, metadata, headers = await deliver_once()
    assert (path, metadata["responseMode"]) == (paths[0], "sync")
    assert "authorization" not in headers

    # The case: URL and mode changed together; the worker holds revision 1 in its cache.
    await patch(
        edit_on,
        subscription_id,
        httpConfig={"url": subscriber.url(paths[1]), "httpDispatchMode": "DYNAMIC"},
    )
    path, metadata, headers = await deliver_once()
    assert (path, metadata["responseMode"]) == (paths[1], "dynamic"), "new URL with new mode, never a mix"

    for token in ("tok-one", "tok-two"):
        await patch(
            edit_on,
            subscription_id,
            httpConfig={
                "url": subscriber.url(paths[2]),
                "httpDispatchMode": "SYNC",
                "httpAuthenticationType": "BEARER_TOKEN",
                "bearerTokenAuthConfig": {"bearerToken": token},
            },
        )
        path, metadata, headers = await deliver_once()
        assert (path, metadata["responseMode"], headers["authorization"]) == (
            paths[2],
            "sync",
            f"Bearer {token}",
        )

    rotated = await edit_on.post(f"/trigger-subscriptions/v1/{subscription_id}/rotate-signing-secret")
    assert rotated.status_code == 200, rotated.text
    before = len(subscriber.received(paths[2]))
    await deliver_once()
    signed = subscriber.received(paths[2])[before]
    verify(secret=rotated.json()["signingSecret"], headers=signed.headers, body=signed.body)

    await patch(edit_on, subscription_id, filter="$[?(@.nobody == 'matches')]")
    response = await start_on.post(
        "/trigger-invocations/v1/start", json={"triggerId": RR_TRIGGER, "input": RR_INPUT}
    )
    assert response.status_code == 204, "the new filter applies to the next start"
    await patch(edit_on, subscription_id, filter=None, enabled=False)
    response = await start_on.post(
        "/trigger-invocations/v1/start", json={"triggerId": RR_TRIGGER, "input": RR_INPUT}
    )
    assert response.status_code == 204, "a disabled subscription gets nothing from the next start"


async def test_fixing_the_url_heals_pending_retries(
    replicas: tuple[httpx.AsyncClient, httpx.AsyncClient], subscriber: Subscriber
) -> None:
    edit_on, start_on = replicas
    broken, fixed = subscriber.new_path(default=Reply(status=503)), subscriber.new_path()
    subscription_id = await create_subscription(edit_on, url=subscriber.url(broken))
    [invocation] = await start(start_on, trigger_id=FNF_TRIGGER, payload=FNF_INPUT)
    await subscriber.wait_for(broken, count=2, within=30)  # retrying

    await patch(edit_on, subscription_id, httpConfig={"url": subscriber.url(fixed)})
    failed_before_the_fix = len(subscriber.received(broken))
    detail = await finished(start_on, invocation["id"], wait=25)
    assert detail["status"] == "COMPLETED"
    [delivered] = subscriber.received(fixed)
    assert delivered.json()["_metadata"]["invocationId"] == invocation["id"]
    late = len(subscriber.received(broken)) - failed_before_the_fix
    assert late <= 1, f"{late} attempts after the fix went to the old URL (one may have been in flight)"
