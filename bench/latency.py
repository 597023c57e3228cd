"""Latency of REQUEST_RESPONSE through the API, against a direct POST to the same subscriber.

* SYNC round trip: POST /trigger-invocations/v1/start, then GET /{id}?waitSeconds=10 until COMPLETED,
  vs httpx POSTing the same body to the subscriber. The difference is what the product adds.
* Start and wait: POST /trigger-invocations/v1/start?waitSeconds=10, the outcome in the one response
  (the extension for SYNC producers), against the same direct POST, interleaved with the two above.
* Callback -> visible: POST /{id}/complete on an invocation that awaits its answer, then GET /{id}
  shows COMPLETED; the time from sending the callback to reading the result.
* Where the time goes: the dev server's own mean time in the two RPCs every SYNC invocation makes (its
  ``service_latency`` metric, frontend and history service) and the CPU per invocation of the API
  process and of the dev server, over the interleaved requests.
* The floor: the same start-and-wait round trip built from the SDK's defaults and nothing of the
  product's (``bench.floor``, its own process, same dev server and subscriber), against direct POSTs
  interleaved with it: what no change of ours can go below on this machine.

The API runs as its own process (``event-triggers api``, with its embedded worker, as deployed); the
subscriber and this client share this process; Temporal is a throwaway dev server. All on loopback.
Figures are printed, not asserted.

    python -m bench.latency [SAMPLES]

The last line is the figures as one JSON object (``bench.common.print_figures``).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import sys
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from bench.common import (
    bench_settings,
    child_process,
    cpu_seconds,
    describe_ms,
    dev_server_process,
    open_store,
    percentile,
    print_figures,
    scratch_dir,
    temporal_dev_server,
)
from event_triggers.catalog import load_catalog
from event_triggers.clients import create_client
from event_triggers.config import Settings
from event_triggers.security.client_credentials import SCOPES
from event_triggers.temporal import exit_process
from tests.conftest import TEST_KEY_ENVIRONMENT, access_token, free_port, wait_until
from tests.subscriber import Reply, Subscriber

SYNC_TRIGGER = "idn:access-request-dynamic-approver"
ASYNC_TRIGGER = "idn:access-request-pre-approval"
WARM_UP = 20
SYNC_RPCS = ("StartWorkflowExecution", "RespondWorkflowTaskCompleted")
"""What a SYNC invocation asks of Temporal on its path: the eager start, then its one workflow task's end."""


async def subscribe(api: httpx.AsyncClient, *, trigger_id: str, url: str, mode: str) -> None:
    body = {
        "name": f"bench {mode}",
        "triggerId": trigger_id,
        "type": "HTTP",
        "httpConfig": {"url": url, "httpDispatchMode": mode},
    }
    response = await api.post("/trigger-subscriptions/v1", json=body)
    response.raise_for_status()


async def start_one(
    api: httpx.AsyncClient, trigger_id: str, payload: dict[str, Any], *, wait_seconds: float | None = None
) -> dict[str, Any]:
    response = await api.post(
        "/trigger-invocations/v1/start",
        json={"triggerId": trigger_id, "input": payload},
        params=None if wait_seconds is None else {"waitSeconds": wait_seconds},
    )
    response.raise_for_status()
    invocation: dict[str, Any] = response.json()[0]
    return invocation


async def sync_round_trip(api: httpx.AsyncClient, payload: dict[str, Any]) -> float:
    began = time.perf_counter()
    invocation = await start_one(api, SYNC_TRIGGER, payload)
    detail = await api.get(f"/trigger-invocations/v1/{invocation['id']}", params={"waitSeconds": 10})
    elapsed = time.perf_counter() - began
    assert detail.json()["status"] == "COMPLETED", detail.text
    return elapsed


async def start_and_wait(api: httpx.AsyncClient, payload: dict[str, Any]) -> float:
    began = time.perf_counter()
    invocation = await start_one(api, SYNC_TRIGGER, payload, wait_seconds=10)
    elapsed = time.perf_counter() - began
    assert invocation.get("status") == "COMPLETED", invocation
    return elapsed


async def timed_post(client: httpx.AsyncClient, url: str, payload: dict[str, Any]) -> float:
    """Seconds one POST of ``payload`` takes: to the subscriber directly, or to the floor's route."""
    began = time.perf_counter()
    response = await client.post(url, json=payload)
    elapsed = time.perf_counter() - began
    response.raise_for_status()
    return elapsed


async def callback_to_visible(
    api: httpx.AsyncClient, payload: dict[str, Any], output: dict[str, Any]
) -> float:
    invocation = await start_one(api, ASYNC_TRIGGER, payload)
    url = f"/trigger-invocations/v1/{invocation['id']}"

    async def awaiting() -> bool:
        return bool((await api.get(url)).json()["status"] == "AWAITING_RESPONSE")

    await wait_until(awaiting, interval=0.005)
    began = time.perf_counter()
    completed = await api.post(f"{url}/complete", json={"secret": invocation["secret"], "output": output})
    detail = await api.get(url)
    elapsed = time.perf_counter() - began
    assert completed.status_code == 204 and detail.json()["status"] == "COMPLETED", detail.text
    return elapsed


async def server_rpc_totals(metrics_url: str) -> dict[tuple[str, str], list[float]]:
    """The dev server's time so far in ``SYNC_RPCS``: (service, operation) -> [seconds, calls]; the
    metric is a histogram, its ``_sum`` the seconds and its ``_count`` the calls."""
    async with httpx.AsyncClient() as http:
        text = (await http.get(metrics_url)).text
    totals: dict[tuple[str, str], list[float]] = collections.defaultdict(lambda: [0.0, 0.0])
    for family in text_string_to_metric_families(text):
        if family.name != "service_latency":
            continue
        for sample in family.samples:
            key = (sample.labels.get("service_name", ""), sample.labels.get("operation", ""))
            if key[1] in SYNC_RPCS and sample.name.endswith(("_sum", "_count")):
                totals[key][sample.name.endswith("_count")] += sample.value
    return totals


def log_tail(log: Path) -> str:
    return log.read_text()[-2000:]


@asynccontextmanager
async def served_process(
    arguments: list[str], *, port: int, log: Path, environment: Mapping[str, str] | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    """``python -m ARGUMENTS`` in its own process serving HTTP on ``port``, and a client for it once its
    ``GET /health`` answers; terminated on exit."""
    with log.open("wb") as log_file:
        process = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", *arguments),
            env=environment,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=log_file,
        )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:

            async def healthy() -> bool:
                if process.returncode is not None:
                    raise RuntimeError(f"{arguments[0]} exited: {log_tail(log)}")
                try:
                    return (await client.get("/health")).status_code == 200
                except httpx.TransportError:
                    return False

            await wait_until(healthy, timeout=120)  # a loaded machine imports slowly
            yield client
    finally:
        if process.returncode is None:
            process.terminate()
        await asyncio.wait_for(process.wait(), timeout=30)


@asynccontextmanager
async def api_process(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """``event-triggers api`` in its own process, and a client holding a token with every scope."""
    store = await open_store(settings)
    try:
        credentials = await create_client(store=store, name="bench", scopes=sorted(SCOPES))
    finally:
        await store.close()
    values = {
        "TEMPORAL_ADDRESS": settings.temporal_address,
        "TASK_QUEUE": settings.task_queue,
        "DATA_DIR": str(settings.data_dir),
        "API_PORT": str(settings.api_port),
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{settings.api_port}",
        "DESTINATION_ALLOWLIST": json.dumps(settings.destination_allowlist),
    }
    environment = {
        **os.environ,
        **TEST_KEY_ENVIRONMENT,  # the keys bench_settings gave this process
        **{f"EVENT_TRIGGERS_{key}": value for key, value in values.items()},
    }
    async with served_process(
        ["event_triggers.cli", "api"],
        port=settings.api_port,
        log=settings.data_dir / "api.log",
        environment=environment,
    ) as api:
        api.headers["Authorization"] = f"Bearer {await access_token(api, credentials)}"
        yield api


def floor_process(settings: Settings, subscriber_url: str) -> AbstractAsyncContextManager[httpx.AsyncClient]:
    """``bench.floor`` in its own process, on the same dev server and subscriber as the API."""
    port = free_port()
    return served_process(
        ["bench.floor", str(port), settings.temporal_address, subscriber_url],
        port=port,
        log=settings.data_dir / "floor.log",
    )


async def main(samples: int) -> None:
    catalog = load_catalog()
    sync_trigger, async_trigger = catalog.require(SYNC_TRIGGER), catalog.require(ASYNC_TRIGGER)
    metrics_url = f"http://127.0.0.1:{(metrics_port := free_port())}/metrics"
    async with temporal_dev_server(metrics_port=metrics_port) as environment:
        settings = bench_settings(environment, scratch_dir(), api_port=free_port())
        async with Subscriber() as subscriber, api_process(settings) as api, httpx.AsyncClient() as direct:
            sync_path = subscriber.new_path(default=Reply(body=sync_trigger.example_output))
            async_path = subscriber.new_path()
            await subscribe(api, trigger_id=SYNC_TRIGGER, url=subscriber.url(sync_path), mode="SYNC")
            await subscribe(api, trigger_id=ASYNC_TRIGGER, url=subscriber.url(async_path), mode="ASYNC")
            body = {**sync_trigger.example_input, "_metadata": {"triggerId": SYNC_TRIGGER}}

            for _ in range(WARM_UP):
                await sync_round_trip(api, sync_trigger.example_input)
                await start_and_wait(api, sync_trigger.example_input)
                await timed_post(direct, subscriber.url(sync_path), body)
            processes = child_process("event_triggers.cli"), dev_server_process()  # the API, Temporal
            cpu_before = [cpu_seconds(process) for process in processes]
            rpcs_before = await server_rpc_totals(metrics_url)
            through_api, waited, bare = [], [], []
            for _ in range(samples):  # interleaved, so all three see the same machine load
                through_api.append(await sync_round_trip(api, sync_trigger.example_input))
                waited.append(await start_and_wait(api, sync_trigger.example_input))
                bare.append(await timed_post(direct, subscriber.url(sync_path), body))
            rpcs = await server_rpc_totals(metrics_url)
            invocations = 2 * samples
            api_cpu, server_cpu = (
                (cpu_seconds(process) - before) / invocations * 1000
                for process, before in zip(processes, cpu_before, strict=True)
            )
            callbacks = [
                await callback_to_visible(
                    api, async_trigger.example_input, async_trigger.example_output or {}
                )
                for _ in range(samples)
            ]
            async with floor_process(settings, subscriber.url(sync_path)) as floor_api:
                for _ in range(WARM_UP):
                    await timed_post(floor_api, "/start", body)
                floor, floor_bare = [], []
                for _ in range(samples):  # its own direct POSTs, interleaved as above
                    floor.append(await timed_post(floor_api, "/start", body))
                    floor_bare.append(await timed_post(direct, subscriber.url(sync_path), body))

    def added(measured: list[float], fraction: float, direct: list[float] = bare) -> float:
        """Milliseconds added at this percentile over the direct POSTs interleaved with ``measured``."""
        return (percentile(measured, fraction) - percentile(direct, fraction)) * 1000

    print(f"SYNC through the API (start + GET waitSeconds): {describe_ms(through_api)}")
    print(f"SYNC start?waitSeconds (one call):              {describe_ms(waited)}")
    print(f"direct POST to the subscriber:                   {describe_ms(bare)}")
    for label, measured in (("start + GET", through_api), ("start?waitSeconds", waited)):
        print(
            f"added by the product, {label + ':':<26}p50 {added(measured, 0.5):6.1f} ms   "
            f"p99 {added(measured, 0.99):6.1f} ms"
        )
    print(f"the floor, SDK defaults only (bench.floor):     {describe_ms(floor)}")
    print(
        f"added by the floor over its direct POSTs:        p50 {added(floor, 0.5, floor_bare):6.1f} ms   "
        f"p99 {added(floor, 0.99, floor_bare):6.1f} ms"
    )
    print(f"callback -> result visible via GET:              {describe_ms(callbacks)}")

    def server_mean_ms(service: str, operation: str) -> float:
        """The dev server's mean time in one RPC over the interleaved requests."""
        now, then = rpcs[service, operation], rpcs_before[service, operation]
        return (now[0] - then[0]) / max(now[1] - then[1], 1) * 1000

    for operation in SYNC_RPCS:
        print(
            f"dev server, {operation}: {server_mean_ms('frontend', operation):.2f} ms mean in its frontend "
            f"({server_mean_ms('history', operation):.2f} in history)"
        )
    print(f"CPU per SYNC invocation: API process {api_cpu:.1f} ms, dev server {server_cpu:.1f} ms")
    print_figures(
        {
            "added_p50_ms": added(through_api, 0.5),
            "added_p99_ms": added(through_api, 0.99),
            "callback_visible_p99_ms": percentile(callbacks, 0.99) * 1000,
            "start_and_wait_added_p50_ms": added(waited, 0.5),
            "start_and_wait_added_p99_ms": added(waited, 0.99),
            "floor_added_p50_ms": added(floor, 0.5, floor_bare),
            "floor_added_p99_ms": added(floor, 0.99, floor_bare),
            "server_start_ms": server_mean_ms("frontend", "StartWorkflowExecution"),
            "server_task_completed_ms": server_mean_ms("frontend", "RespondWorkflowTaskCompleted"),
            "api_cpu_per_invocation_ms": api_cpu,
            "server_cpu_per_invocation_ms": server_cpu,
        }
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "samples", nargs="?", type=int, default=200, help="samples per measurement (default 200)"
    )
    asyncio.run(main(parser.parse_args().samples))
    exit_process(0)
