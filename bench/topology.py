"""Deliveries per second of the production shape: 1 or 2 ``event-triggers worker`` processes, the API's
embedded worker off or on.

This process plays one API replica: it starts N FIRE_AND_FORGET events through the product path of
``POST /start`` (100 in flight) and, with ``embedded_worker`` on, runs the embedded worker that takes the
eager starts, as ``event-triggers api`` does. The workers are real ``event-triggers worker`` processes. Store:
a fresh PostgreSQL database; Temporal: a fresh dev server per run. A run counts from the first start until
the subscriber holds all N; each process's share comes from its ``event_triggers_deliveries`` counter.
Figures are printed, not asserted.

    python -m bench.topology [N]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
from collections.abc import Iterator

import httpx
from prometheus_client import REGISTRY
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from bench.common import (
    add_http_subscription,
    bench_settings,
    print_figures,
    product_context,
    scratch_dir,
    temporal_dev_server,
)
from bench.throughput import START_CONCURRENCY, TRIGGER_ID, WARM_UP, run_bounded
from event_triggers.config import Settings
from event_triggers.invocations.start import start_invocations
from event_triggers.metrics import free_loopback_port
from event_triggers.temporal import exit_process
from tests.conftest import postgresql_database
from tests.subscriber import Subscriber
from tests.worker_process import WorkerProcesses

SUCCESS_SAMPLE = ("event_triggers_deliveries_total", "success")


def delivered_here() -> float:
    """Successful deliveries counted by this process's registry (the embedded worker's share)."""
    return sum(
        sample.value
        for metric in REGISTRY.collect()
        for sample in metric.samples
        if sample.name == SUCCESS_SAMPLE[0] and sample.labels.get("outcome") == SUCCESS_SAMPLE[1]
    )


def delivered_by(metrics_port: int) -> float:
    """Successful deliveries a worker process reports on its ``/metrics``."""
    text = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(SUCCESS_SAMPLE[0]) and f'outcome="{SUCCESS_SAMPLE[1]}"' in line
    )


async def wait_for_pollers(client: Client, settings: Settings, count: int) -> None:
    """Until ``count`` workers poll the workflow task queue, so no run starts before its workers."""
    request = DescribeTaskQueueRequest(
        namespace=settings.temporal_namespace,
        task_queue=TaskQueue(name=settings.task_queue),
        task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
    )
    deadline = time.monotonic() + 120
    while len((await client.workflow_service.describe_task_queue(request)).pollers) < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"fewer than {count} workers poll {settings.task_queue} after 120 s")
        await asyncio.sleep(0.2)


@contextlib.contextmanager
def worker_processes(settings: Settings, count: int) -> Iterator[list[int]]:
    """``count`` ``event-triggers worker`` processes; yields their metrics ports; stops them on exit."""
    processes = WorkerProcesses(settings, scratch_dir())
    ports = [free_loopback_port() for _ in range(count)]
    try:
        for port in ports:
            processes.start(worker_metrics_port=str(port))
        yield ports
    finally:
        processes.stop_all()


async def run(count: int, *, workers: int, embedded_worker: bool) -> float:
    """Deliveries per second of one shape, printed with each process's share."""
    async with temporal_dev_server() as environment, postgresql_database() as database_url:
        settings = bench_settings(
            environment, scratch_dir(), database_url=database_url, embedded_worker=embedded_worker
        )
        async with product_context(settings, worker=embedded_worker) as context:
            payload = context.catalog.require(TRIGGER_ID).example_input
            async with Subscriber() as subscriber:
                path = subscriber.new_path()
                await add_http_subscription(context.store, trigger_id=TRIGGER_ID, url=subscriber.url(path))

                async def deliver(events: int) -> float:
                    """Start ``events`` events; seconds until the subscriber has them all."""
                    already = len(subscriber.received(path))
                    began = time.perf_counter()
                    await run_bounded(
                        events,
                        lambda: start_invocations(
                            context=context, trigger_id=TRIGGER_ID, payload=payload, content_json={}
                        ),
                        concurrency=START_CONCURRENCY,
                    )
                    await subscriber.wait_for(path, already + events, within=900)
                    return time.perf_counter() - began

                with worker_processes(settings, workers) as ports:
                    await wait_for_pollers(context.client, settings, workers + embedded_worker)
                    await deliver(WARM_UP)
                    before = [delivered_here(), *(delivered_by(port) for port in ports)]
                    seconds = await deliver(count)
                    after = [delivered_here(), *(delivered_by(port) for port in ports)]
    shares = [round(end - start) for start, end in zip(before, after, strict=True)]
    by_process = ", ".join(f"worker {index} {share}" for index, share in enumerate(shares[1:], 1))
    if embedded_worker:
        by_process = f"API {shares[0]}, {by_process}"
    print(
        f"{workers} worker process{'es' if workers > 1 else '  '}, embedded worker "
        f"{'on ' if embedded_worker else 'off'}: {count / seconds:6.1f} deliveries/s   ({by_process})",
        flush=True,
    )
    return count / seconds


async def main(count: int) -> None:
    figures = {}
    for embedded_worker in (False, True):
        for workers in (1, 2):
            rate = await run(count, workers=workers, embedded_worker=embedded_worker)
            figures[f"workers_{workers}_embedded_{'on' if embedded_worker else 'off'}_per_s"] = rate
    print_figures(figures)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("count", nargs="?", type=int, default=1000, help="events per run (default 1000)")
    asyncio.run(main(parser.parse_args().count))
    exit_process(0)
