"""The production topology as separate processes, as docs/operations.md sets it up.

One Temporal server (the session's dev server), one fresh PostgreSQL database, and, started at the same
moment: ``event-triggers setup``, two API replicas and two workers. Replica A runs the embedded worker (the
low-latency shape), replica B does not (the compose file's shape). Every process gets only EVENT_TRIGGERS_*
variables, the same keys, and the public URL of replica B, so every callback goes to B.
"""

from __future__ import annotations

import asyncio
import functools
import json
import signal
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest

from event_triggers.config import Settings
from event_triggers.security.client_credentials import SCOPES
from tests.conftest import free_port, postgresql_database, wait_until
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
from tests.subscriber import Subscriber
from tests.worker_process import WorkerProcesses

LOAD_EVENTS = 60
KILL_AFTER = 20


class Topology:
    """The processes of one deployment and what a client needs to reach them."""

    def __init__(self, settings: Settings, log_dir: Path) -> None:
        self.processes = WorkerProcesses(settings, log_dir)
        self.cwd = log_dir / "cwd"
        self.cwd.mkdir()
        self.ports = {"a": free_port(), "b": free_port()}
        self.public_url = self.url("b")

    def url(self, replica: str) -> str:
        return f"http://127.0.0.1:{self.ports[replica]}"

    def start_all(self) -> dict[str, subprocess.Popen[bytes]]:
        """setup, both replicas and both workers at the same moment, on a database without schema."""
        common = {
            "public_base_url": self.public_url,
            "schema_wait": "PT120S",
            "workflow_task_timeout": "PT3S",  # what a killed replica's eager tasks wait for
        }
        return {
            "setup": self.processes.start("setup", cwd=self.cwd),
            "api a": self.processes.start(
                "api", cwd=self.cwd, api_port=str(self.ports["a"]), embedded_worker="true", **common
            ),
            "api b": self.processes.start(
                "api", cwd=self.cwd, api_port=str(self.ports["b"]), embedded_worker="false", **common
            ),
            "worker 1": self.processes.start("worker", cwd=self.cwd, **common),
            "worker 2": self.processes.start("worker", cwd=self.cwd, **common),
        }

    async def client_credentials(self) -> dict[str, str]:
        """A client made with the CLI, as an operator would (once setup has migrated the store)."""
        scopes = [argument for scope in sorted(SCOPES) for argument in ("--scope", scope)]
        process = self.processes.start("clients", "create", "--name", "ops", "--json", *scopes, cwd=self.cwd)
        assert await asyncio.to_thread(process.wait, 120) == 0, self.logs()
        log = self.processes.log_path(len(self.processes.started) - 1).read_text()
        printed = next(line for line in log.splitlines() if line.startswith("{"))  # warnings may follow
        credentials: dict[str, str] = json.loads(printed)
        return credentials

    def logs(self) -> str:
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')[-3000:]}"
            for path in sorted(self.processes.log_path(0).parent.glob("worker-*.log"))
        )


@pytest.fixture
async def topology(make_settings: Callable[..., Settings], tmp_path: Path) -> AsyncIterator[Topology]:
    async with postgresql_database() as database_url:
        deployment = Topology(make_settings(database_url=database_url), tmp_path)
        try:
            yield deployment
        finally:
            deployment.processes.stop_all()


async def ready(url: str) -> bool:
    try:
        async with httpx.AsyncClient() as http:
            return (await http.get(f"{url}/ready", timeout=5)).status_code == 200
    except httpx.HTTPError:
        return False


async def api_client(base_url: str, token: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=60)


async def test_two_replicas_and_two_workers_share_one_store_and_survive_kill_9(
    topology: Topology, subscriber: Subscriber
) -> None:
    started = topology.start_all()
    assert await asyncio.to_thread(started["setup"].wait, 120) == 0, topology.logs()
    for url in (topology.url("a"), topology.url("b")):
        await wait_until(functools.partial(ready, url), timeout=120, interval=0.5)
    credentials = await topology.client_credentials()
    async with httpx.AsyncClient(base_url=topology.url("a")) as http:
        token = await http.post("/oauth/token", data={"grant_type": "client_credentials", **credentials})
        token.raise_for_status()
    a = await api_client(topology.url("a"), token.json()["access_token"])  # a token from A works on B
    b = await api_client(topology.url("b"), token.json()["access_token"])
    try:
        await edits_on_one_replica_reach_the_next_start_on_the_other(a, b, subscriber)
        await a_callback_reaches_the_other_replica(a, b, subscriber)
        await kill_9_a_worker_and_a_replica_under_load(a, b, subscriber, started, topology)
    finally:
        await a.aclose()
        await b.aclose()
    for name in ("api b", "worker 2"):
        started[name].send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(started[name].wait, 60) == 0, f"{name} stops cleanly on SIGTERM"
    assert list(topology.cwd.iterdir()) == [], "no data dir, no key file next to a PostgreSQL deployment"


async def edits_on_one_replica_reach_the_next_start_on_the_other(
    a: httpx.AsyncClient, b: httpx.AsyncClient, subscriber: Subscriber
) -> None:
    paths = [subscriber.new_path() for _ in range(3)]
    subscription_id = await create_subscription(a, url=subscriber.url(paths[0]))
    for path in paths[1:]:
        edited = await a.patch(
            f"/trigger-subscriptions/v1/{subscription_id}",
            json=[{"op": "replace", "path": "/httpConfig/url", "value": subscriber.url(path)}],
            headers={"Content-Type": "application/json-patch+json"},
        )
        assert edited.status_code == 200, edited.text
        [invocation] = await start(b, trigger_id=FNF_TRIGGER, payload=FNF_INPUT)  # at once, on the other
        assert (await finished(b, invocation["id"], wait=60))["status"] == "COMPLETED"
        delivered = [request.json()["_metadata"]["invocationId"] for request in subscriber.received(path)]
        assert delivered == [invocation["id"]], "the start after the edit's answer used the new URL"
    assert subscriber.received(paths[0]) == []
    assert (await a.delete(f"/trigger-subscriptions/v1/{subscription_id}")).status_code == 204


async def a_callback_reaches_the_other_replica(
    a: httpx.AsyncClient, b: httpx.AsyncClient, subscriber: Subscriber
) -> None:
    path = subscriber.new_path()
    subscription_id = await create_subscription(
        a, url=subscriber.url(path), trigger_id=RR_TRIGGER, mode="ASYNC"
    )
    [invocation] = await start(a, trigger_id=RR_TRIGGER, payload=RR_INPUT)
    [request] = await subscriber.wait_for(path, within=60)
    metadata = request.json()["_metadata"]
    assert metadata["callbackURL"].startswith(str(b.base_url)), "subscribers call the public URL back"
    async with httpx.AsyncClient(timeout=60) as http:
        answered = await http.post(
            metadata["callbackURL"], json={"secret": metadata["secret"], "output": RR_OUTPUT}
        )
    assert answered.status_code == 204, answered.text
    detail = await finished(a, invocation["id"], wait=60)
    assert (detail["status"], detail["output"]) == ("COMPLETED", RR_OUTPUT)
    assert (await a.delete(f"/trigger-subscriptions/v1/{subscription_id}")).status_code == 204


async def kill_9_a_worker_and_a_replica_under_load(
    a: httpx.AsyncClient,
    b: httpx.AsyncClient,
    subscriber: Subscriber,
    started: dict[str, subprocess.Popen[bytes]],
    topology: Topology,
) -> None:
    """Events go to both replicas, 4 in flight; after KILL_AFTER acknowledged starts, worker 1 and replica A
    (with its embedded worker's eager tasks) die by SIGKILL. Starts A never answered are not acknowledged;
    every acknowledged one must be delivered and COMPLETED."""
    path = subscriber.new_path()
    subscription_id = await create_subscription(b, url=subscriber.url(path))
    acknowledged: list[str] = []
    killed = asyncio.Event()
    remaining = iter(range(LOAD_EVENTS))

    async def producer(lane: int) -> None:
        for number in remaining:
            replica = a if number % 2 and not killed.is_set() else b
            try:
                response = await replica.post(
                    "/trigger-invocations/v1/start",
                    json={"triggerId": FNF_TRIGGER, "input": FNF_INPUT, "contentJson": {"n": number}},
                    headers={"Idempotency-Key": str(uuid.uuid4())},
                )
            except httpx.TransportError:
                continue  # the replica died mid-request: nothing acknowledged
            if response.status_code == 200:
                acknowledged.extend(item["id"] for item in response.json())
            if len(acknowledged) >= KILL_AFTER and not killed.is_set():
                killed.set()
                for name in ("worker 1", "api a"):
                    started[name].send_signal(signal.SIGKILL)

    await asyncio.gather(*(producer(lane) for lane in range(4)))
    kill_time = time.monotonic()
    assert killed.is_set()
    for name in ("worker 1", "api a"):
        assert await asyncio.to_thread(started[name].wait, 30) == -signal.SIGKILL

    async def all_delivered() -> bool:
        received = {request.json()["_metadata"]["invocationId"] for request in subscriber.received(path)}
        return set(acknowledged) <= received

    await wait_until(all_delivered, timeout=120, interval=0.2)
    recovered_after = time.monotonic() - kill_time
    details = await asyncio.gather(*(finished(b, invocation_id, wait=60) for invocation_id in acknowledged))
    assert {detail["status"] for detail in details} == {"COMPLETED"}, topology.logs()
    deliveries = Counter(request.json()["_metadata"]["invocationId"] for request in subscriber.received(path))
    duplicates = sum(count - 1 for count in deliveries.values())
    print(
        f"{len(acknowledged)} acknowledged invocations all delivered and COMPLETED; the last one "
        f"{recovered_after:.1f} s after the kill; {duplicates} duplicate POST(s) (at-least-once)"
    )
    assert (await b.delete(f"/trigger-subscriptions/v1/{subscription_id}")).status_code == 204
