"""Pending answers: N ASYNC REQUEST_RESPONSE invocations await their callback at once on one worker process.

The worker is ``event-triggers worker`` in its own process, as deployed; this process plays the API
(``start_invocations`` and ``complete_invocation``, no embedded worker) and the subscriber, which accepts
each delivery with 202 and answers later. Once all N await their answer, every callback is sent; then
every invocation must be COMPLETED with its output. Printed: the worker's and the dev server's peak
resident memory (``VmHWM``), how long starts and callbacks took, and the time from the last callback to
all N visible as COMPLETED. Figures are printed, not asserted; the last line is a JSON object of them.

    python -m bench.pending [N]    # default 10000
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

import psutil

from bench.common import (
    add_http_subscription,
    bench_settings,
    dev_server_process,
    peak_rss_mb,
    print_figures,
    product_context,
    scratch_dir,
    temporal_dev_server,
)
from bench.throughput import START_CONCURRENCY, run_bounded
from bench.topology import wait_for_pollers
from event_triggers.invocation_models import InvocationDetail, InvocationStatus
from event_triggers.invocations.completion import complete_invocation
from event_triggers.invocations.context import InvocationContext
from event_triggers.invocations.start import start_invocations
from event_triggers.security.invocation_secret import invocation_secret
from event_triggers.temporal import exit_process
from tests.conftest import wait_until
from tests.subscriber import Reply, Subscriber
from tests.worker_process import WorkerProcesses

TRIGGER_ID = "idn:access-request-dynamic-approver"


async def count_status(context: InvocationContext, subscription_id: str, status: InvocationStatus) -> int:
    query = f"SubscriptionId = '{subscription_id}' AND InvocationStatus = '{status.value}'"
    return (await context.client.count_workflows(query)).count


async def main(count: int) -> None:
    async with temporal_dev_server() as environment, Subscriber() as subscriber:
        settings = bench_settings(environment, scratch_dir(), embedded_worker=False)
        async with product_context(settings, worker=False) as context:
            catalog_trigger = context.catalog.require(TRIGGER_ID)
            payload, output = catalog_trigger.example_input, catalog_trigger.example_output or {}
            path = subscriber.new_path(default=Reply(status=202))
            subscription_id = await add_http_subscription(
                context.store, trigger_id=TRIGGER_ID, url=subscriber.url(path), mode="ASYNC"
            )
            workers = WorkerProcesses(settings, scratch_dir())
            try:
                worker = workers.start()
                await wait_for_pollers(context.client, settings, 1)
                figures = await pending_answers(
                    context, subscriber, path, subscription_id, payload, output, count, worker.pid
                )
            finally:
                workers.stop_all()
    print(
        f"{figures['completed']} of {count} COMPLETED with their output; peak RSS: worker "
        f"{figures['worker_peak_rss_mb']:.0f} MB ({figures['worker_rss_pending_mb']:.0f} MB with all "
        f"{count} pending), dev server {figures['server_peak_rss_mb']:.0f} MB"
    )
    print(
        f"starts {figures['starts_per_s']:.1f}/s, callbacks {figures['callbacks_per_s']:.1f}/s, "
        f"last callback -> all visible as COMPLETED {figures['last_callback_to_visible_s']:.2f} s"
    )
    print_figures(figures)


async def pending_answers(
    context: InvocationContext,
    subscriber: Subscriber,
    path: str,
    subscription_id: str,
    payload: dict[str, Any],
    output: dict[str, Any],
    count: int,
    worker_pid: int,
) -> dict[str, float]:
    worker, server = psutil.Process(worker_pid), dev_server_process()
    invocation_ids: list[str] = []

    async def start() -> None:
        [invocation] = await start_invocations(
            context=context, trigger_id=TRIGGER_ID, payload=payload, content_json={}
        )
        invocation_ids.append(invocation.id)

    began = time.perf_counter()
    await run_bounded(count, start, concurrency=START_CONCURRENCY)
    starts_per_s = count / (time.perf_counter() - began)
    await subscriber.wait_for(path, count, within=3600)

    async def all_awaiting() -> bool:
        return await count_status(context, subscription_id, InvocationStatus.AWAITING_RESPONSE) >= count

    await wait_until(all_awaiting, timeout=1800, interval=0.2)
    worker_rss_pending_mb = worker.memory_info().rss / 1024 / 1024
    print(f"{count} invocations await their answer; worker RSS {worker_rss_pending_mb:.0f} MB", flush=True)

    callbacks = iter(invocation_ids)

    async def callback() -> None:
        invocation_id = next(callbacks)
        await complete_invocation(
            context=context,
            invocation_id=invocation_id,
            secret=invocation_secret(server_key=context.server_key, invocation_id=invocation_id),
            output=output,
            error=None,
        )

    began = time.perf_counter()
    await run_bounded(count, callback, concurrency=START_CONCURRENCY)
    last_callback = time.perf_counter()
    callbacks_per_s = count / (last_callback - began)

    async def all_completed() -> bool:
        return await count_status(context, subscription_id, InvocationStatus.COMPLETED) >= count

    await wait_until(all_completed, timeout=600, interval=0.2)
    visible = time.perf_counter() - last_callback
    results = iter(invocation_ids)
    completed = 0

    async def check_result() -> None:
        nonlocal completed
        handle = context.client.get_workflow_handle(next(results), result_type=InvocationDetail)
        detail = await handle.result()
        completed += detail.status is InvocationStatus.COMPLETED and detail.output == output

    await run_bounded(count, check_result, concurrency=START_CONCURRENCY)
    return {
        "invocations": count,
        "completed": completed,
        "worker_peak_rss_mb": peak_rss_mb(worker),
        "server_peak_rss_mb": peak_rss_mb(server),
        "worker_rss_pending_mb": worker_rss_pending_mb,
        "last_callback_to_visible_s": visible,
        "starts_per_s": starts_per_s,
        "callbacks_per_s": callbacks_per_s,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("count", nargs="?", type=int, default=10000, help="invocations (default 10000)")
    asyncio.run(main(parser.parse_args().count))
    exit_process(0)
