"""Deliveries per second: N FIRE_AND_FORGET events through the product vs a bare one-activity workflow.

Both run in this process on the same kind of Temporal dev server, with the same local subscriber. The
product path is what the API runs for POST /start (validation, subscription lookup, JSONPath filter,
InvocationWorkflow with its search attributes and memo, deliver_http) on the product's worker; the
baseline starts a workflow whose one regular activity POSTs the same body, on a worker with the SDK's
defaults. Each run also prints the CPU per delivery of this process and of the dev server. Figures are
printed, not asserted; the last line is a JSON object of them.

    python -m bench.throughput [N] [--runs R] [--persistent] [--variants]
    python -m bench.throughput [N] --metrics-ab ROUNDS       # what Prometheus metrics cost
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import functools
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import psutil
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from bench.baseline import BareDelivery, BarePost
from bench.common import (
    add_http_subscription,
    bench_settings,
    cpu_seconds,
    dev_server_process,
    print_figures,
    product_context,
    scratch_dir,
    temporal_dev_server,
)
from event_triggers.catalog import load_catalog
from event_triggers.config import get_settings
from event_triggers.invocations.start import start_invocations
from event_triggers.temporal import exit_process
from tests.subscriber import Subscriber
from worker import SHUTDOWN_MARGIN, delivery_http_client

TRIGGER_ID = "idn:identity-created"
START_CONCURRENCY = 100
WARM_UP = 100


@dataclass(frozen=True)
class Rate:
    per_s: float
    process_cpu_ms: float
    """CPU of this process (starts, worker, subscriber) per delivery."""
    server_cpu_ms: float
    """CPU of the Temporal dev server per delivery."""
    repeated: int = 0
    """Requests that repeated a delivery already received (a workflow task retried after its timeout)."""
    not_eager: int = 0
    """Product starts whose first workflow task Temporal queued (no free slot for an eager start)."""

    def __str__(self) -> str:
        return (
            f"{self.per_s:7.1f} deliveries/s   CPU per delivery: this process {self.process_cpu_ms:5.2f} ms, "
            f"dev server {self.server_cpu_ms:5.2f} ms"
            + (f"   {self.repeated} repeated" if self.repeated else "")
            + (f"   {self.not_eager} not eager" if self.not_eager else "")
        )


async def run_bounded(count: int, make: Callable[[], Awaitable[Any]], *, concurrency: int) -> None:
    """Run ``make()`` ``count`` times, at most ``concurrency`` at once (like a producer's connection pool)."""
    remaining = iter(range(count))

    async def lane() -> None:
        for _ in remaining:
            await make()

    await asyncio.gather(*(lane() for _ in range(concurrency)))


async def timed(count: int, deliver: Callable[[], Awaitable[None]], *, received: Callable[[], int]) -> Rate:
    """``deliver()`` (``count`` deliveries): their rate, the CPU they took here and on the server, and
    how many of the ``received()`` requests repeated a delivery."""
    server, this = dev_server_process(), psutil.Process()
    cpu_before = cpu_seconds(this), cpu_seconds(server)
    began = time.perf_counter()
    await deliver()
    elapsed = time.perf_counter() - began
    return Rate(
        per_s=count / elapsed,
        process_cpu_ms=(cpu_seconds(this) - cpu_before[0]) / count * 1000,
        server_cpu_ms=(cpu_seconds(server) - cpu_before[1]) / count * 1000,
        repeated=received() - count,
    )


async def product(
    environment: WorkflowEnvironment,
    count: int,
    *,
    local: bool = True,
    eager: bool = True,
    metrics: bool | None = None,
) -> Rate:
    """``metrics`` overrides EVENT_TRIGGERS_METRICS_ENABLED."""
    overrides = {} if metrics is None else {"metrics_enabled": metrics}
    settings = bench_settings(
        environment, scratch_dir(), local_delivery=local, embedded_worker=eager, **overrides
    )
    async with (
        Subscriber() as subscriber,
        product_context(settings) as context,
    ):
        path = subscriber.new_path()
        await add_http_subscription(context.store, trigger_id=TRIGGER_ID, url=subscriber.url(path))
        payload = context.catalog.require(TRIGGER_ID).example_input

        async def deliver() -> None:
            await run_bounded(
                count,
                lambda: start_invocations(
                    context=context, trigger_id=TRIGGER_ID, payload=payload, content_json={}
                ),
                concurrency=START_CONCURRENCY,
            )
            await subscriber.wait_for_deliveries(path, count, within=900)

        refused_before = context.workflow_slots.eager_refused
        rate = await timed(count, deliver, received=lambda: len(subscriber.received(path)))
        return dataclasses.replace(rate, not_eager=context.workflow_slots.eager_refused - refused_before)


async def baseline(environment: WorkflowEnvironment, count: int) -> Rate:
    client = environment.client
    settings = bench_settings(environment, scratch_dir())
    payload = load_catalog().require(TRIGGER_ID).example_input
    async with Subscriber() as subscriber, delivery_http_client(settings) as http_client:
        path = subscriber.new_path()
        url = subscriber.url(path)
        worker = Worker(
            client,
            task_queue=settings.task_queue,
            workflows=[BareDelivery],
            activities=[BarePost(http_client).bare_post],
            graceful_shutdown_timeout=settings.delivery_timeout + SHUTDOWN_MARGIN,
        )
        async with worker:

            async def deliver() -> None:
                await run_bounded(
                    count,
                    lambda: client.start_workflow(
                        BareDelivery.run,
                        args=[url, payload],
                        id=str(uuid.uuid4()),
                        task_queue=settings.task_queue,
                    ),
                    concurrency=START_CONCURRENCY,
                )
                await subscriber.wait_for(path, count, within=900)

            return await timed(count, deliver, received=lambda: count)


async def measure(run: Callable[[WorkflowEnvironment], Awaitable[Rate]], *, persistent: bool) -> Rate:
    """One run on a fresh dev server, so no run pays for the history an earlier one left behind."""
    async with temporal_dev_server(persistent=persistent) as environment:
        await product(environment, WARM_UP)  # server caches, imports, connections
        return await run(environment)


async def interleaved(
    count: int, rounds: int, *, label: str, arms: dict[str, dict[str, Any]], persistent: bool
) -> None:
    """The product with each of ``arms``' options, interleaved on one dev server (A-B, B-A, ...) so the
    machine's drift and the server's growing history hit both alike; prints the mean and median of each."""
    names = list(arms)
    rates: dict[str, list[float]] = {name: [] for name in names}
    async with temporal_dev_server(persistent=persistent) as environment:
        await product(environment, WARM_UP)
        for round_number in range(rounds):
            for name in names if round_number % 2 == 0 else names[::-1]:
                rate = await product(environment, count, **arms[name])
                rates[name].append(rate.per_s)
                print(f"{label} {name:<4} {rate}", flush=True)
    with_it, without = names
    mean = {name: statistics.mean(values) for name, values in rates.items()}
    median = {name: statistics.median(values) for name, values in rates.items()}
    print(
        f"mean: {label} {with_it} {mean[with_it]:.1f}, {without} {mean[without]:.1f} deliveries/s, "
        f"cost {(mean[without] - mean[with_it]) / mean[without]:+.1%}; median: {median[with_it]:.1f} vs "
        f"{median[without]:.1f}, cost {(median[without] - median[with_it]) / median[without]:+.1%}"
    )
    print_figures(
        {
            **{f"{label.replace(' ', '_')}_{name}_per_s": mean[name] for name in names},
            "cost": (mean[without] - mean[with_it]) / mean[without],
            "rounds": rounds,
            "persistent": persistent,
        }
    )


async def main(count: int, *, runs: int, variants: bool, persistent: bool) -> None:
    print(f"metrics {'on' if get_settings().metrics_enabled else 'off'} (EVENT_TRIGGERS_METRICS_ENABLED)")
    print(
        f"Temporal dev server {'with a SQLite file' if persistent else 'in memory'}, {count} events per run"
    )
    options = [(True, True, "local activity + eager start")]
    if variants:
        options += [
            (True, False, "local activity, no eager start"),
            (False, True, "regular activity + eager start"),
            (False, False, "regular activity, no eager start"),
        ]
    baselines: list[float] = []
    products: list[float] = []
    ratios: list[float] = []
    for run_number in range(1, runs + 1):
        bare = await measure(lambda environment: baseline(environment, count), persistent=persistent)
        print(f"run {run_number}: baseline (workflow + regular activity):       {bare}", flush=True)
        baselines.append(bare.per_s)
        for local, eager, label in options:
            rate = await measure(
                functools.partial(product, count=count, local=local, eager=eager), persistent=persistent
            )
            print(
                f"run {run_number}: product  ({label}):{' ' * (36 - len(label))}{rate}   "
                f"ratio {rate.per_s / bare.per_s:.2f}",
                flush=True,
            )
            if (local, eager) == (True, True):
                products.append(rate.per_s)
                ratios.append(rate.per_s / bare.per_s)
    print(
        f"median of {runs}: baseline {statistics.median(baselines):.1f}, product "
        f"{statistics.median(products):.1f} deliveries/s, ratio {statistics.median(ratios):.2f} "
        f"(ratios {', '.join(f'{ratio:.2f}' for ratio in ratios)})"
    )
    print_figures(
        {
            "product_per_s": statistics.median(products),
            "baseline_per_s": statistics.median(baselines),
            "ratio": statistics.median(ratios),
            "persistent": persistent,
            "runs": runs,
        }
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("count", nargs="?", type=int, default=2000, help="events per run (default 2000)")
    parser.add_argument(
        "--runs", type=int, default=1, help="baseline/product pairs; figures are their medians (default 1)"
    )
    parser.add_argument(
        "--persistent",
        action="store_true",
        help="the dev server keeps its history in a SQLite file, as `event-triggers dev` runs it",
    )
    parser.add_argument(
        "--variants", action="store_true", help="also run without eager start / local activity"
    )
    parser.add_argument(
        "--metrics-ab", type=int, metavar="ROUNDS", help="instead: ROUNDS interleaved metrics on/off pairs"
    )
    arguments = parser.parse_args()
    if arguments.metrics_ab:
        asyncio.run(
            interleaved(
                arguments.count,
                arguments.metrics_ab,
                label="metrics",
                arms={"on": {"metrics": True}, "off": {"metrics": False}},
                persistent=arguments.persistent,
            )
        )
    else:
        asyncio.run(
            main(
                arguments.count,
                runs=arguments.runs,
                variants=arguments.variants,
                persistent=arguments.persistent,
            )
        )
    exit_process(0)
