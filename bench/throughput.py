"""Deliveries per second: N FIRE_AND_FORGET events through the product vs a bare one-activity workflow.

Both run in this process on the same Temporal dev server, worker defaults and local subscriber. The
product path is what the API runs for POST /start (validation, subscription lookup, JSONPath filter,
InvocationWorkflow with its search attributes and memo, deliver_http); the baseline starts a workflow
whose one regular activity POSTs the same body. Figures are printed, not asserted.

    python -m bench.throughput [N] [--variants]
    python -m bench.throughput [N] --metrics-ab ROUNDS    # what Prometheus metrics cost
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from bench.baseline import BareDelivery, BarePost
from bench.common import (
    add_http_subscription,
    bench_settings,
    open_store,
    print_figures,
    scratch_dir,
    temporal_dev_server,
)
from event_triggers.catalog import load_catalog
from event_triggers.config import get_settings
from event_triggers.invocations.context import InvocationContext
from event_triggers.invocations.start import start_invocations
from event_triggers.keys import load_server_key
from event_triggers.subscription_reads import SubscriptionReads
from event_triggers.temporal import connect, exit_process
from tests.subscriber import Subscriber
from worker import SHUTDOWN_MARGIN, delivery_http_client, delivery_worker

TRIGGER_ID = "idn:identity-created"
START_CONCURRENCY = 100
WARM_UP = 100


async def run_bounded(count: int, make: Callable[[], Awaitable[Any]], *, concurrency: int) -> None:
    """Run ``make()`` ``count`` times, at most ``concurrency`` at once (like a producer's connection pool)."""
    remaining = iter(range(count))

    async def lane() -> None:
        for _ in remaining:
            await make()

    await asyncio.gather(*(lane() for _ in range(concurrency)))


async def product(
    environment: WorkflowEnvironment, count: int, *, local: bool, eager: bool, metrics: bool | None = None
) -> float:
    """Deliveries per second; ``metrics`` overrides EVENT_TRIGGERS_METRICS_ENABLED."""
    overrides = {} if metrics is None else {"metrics_enabled": metrics}
    settings = bench_settings(
        environment, scratch_dir(), local_delivery=local, embedded_worker=eager, **overrides
    )
    store = await open_store(settings)
    catalog = load_catalog()
    payload = catalog.require(TRIGGER_ID).example_input
    client = await connect(settings)  # as the API's: the SDK metrics runtime when metrics are on
    try:
        async with Subscriber() as subscriber:
            path = subscriber.new_path()
            await add_http_subscription(store, trigger_id=TRIGGER_ID, url=subscriber.url(path))
            context = InvocationContext(
                settings=settings,
                store=store,
                catalog=catalog,
                client=client,
                server_key=load_server_key(settings),
                subscriptions=SubscriptionReads(store),
            )
            async with (
                delivery_worker(
                    client, settings, subscriptions=context.subscriptions, catalog=catalog
                ) as worker,
                worker,
            ):
                began = time.perf_counter()
                await run_bounded(
                    count,
                    lambda: start_invocations(
                        context=context, trigger_id=TRIGGER_ID, payload=payload, content_json={}
                    ),
                    concurrency=START_CONCURRENCY,
                )
                await subscriber.wait_for(path, count, within=900)
                return count / (time.perf_counter() - began)
    finally:
        await store.close()


async def baseline(environment: WorkflowEnvironment, count: int) -> float:
    client: Client = environment.client
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
            began = time.perf_counter()
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
            return count / (time.perf_counter() - began)


async def measure(run: Callable[[WorkflowEnvironment], Awaitable[float]]) -> float:
    """One run on a fresh dev server, so no run pays for the history an earlier one left behind."""
    async with temporal_dev_server() as environment:
        await product(environment, WARM_UP, local=True, eager=True)  # server caches, imports, connections
        return await run(environment)


async def metrics_cost(count: int, rounds: int) -> None:
    """Metrics on and off interleaved on one dev server (on-off, off-on, ...), so the machine's drift and
    the server's growing history hit both alike; prints the mean of each."""
    rates: dict[bool, list[float]] = {True: [], False: []}
    async with temporal_dev_server() as environment:
        await product(environment, WARM_UP, local=True, eager=True)
        for round_number in range(rounds):
            for metrics in (True, False) if round_number % 2 == 0 else (False, True):
                rate = await product(environment, count, local=True, eager=True, metrics=metrics)
                rates[metrics].append(rate)
                print(f"metrics {'on ' if metrics else 'off'}  {rate:7.1f} deliveries/s", flush=True)
    on, off = statistics.mean(rates[True]), statistics.mean(rates[False])
    print(f"mean: metrics on {on:.1f}, off {off:.1f} deliveries/s; cost {(off - on) / off:+.1%}")
    print_figures({"metrics_on_per_s": on, "metrics_off_per_s": off, "cost": (off - on) / off})


async def main(count: int, variants: bool) -> None:
    print(f"metrics {'on' if get_settings().metrics_enabled else 'off'} (EVENT_TRIGGERS_METRICS_ENABLED)")
    bare = await measure(lambda environment: baseline(environment, count))
    print(f"baseline (workflow + regular activity):        {bare:7.1f} deliveries/s")
    runs = [(True, True, "local activity + eager start")]
    if variants:
        runs += [
            (True, False, "local activity, no eager start"),
            (False, True, "regular activity + eager start"),
            (False, False, "regular activity, no eager start"),
        ]
    rates = []
    for local, eager, label in runs:
        rate = await measure(functools.partial(product, count=count, local=local, eager=eager))
        rates.append(rate)
        print(
            f"product  ({label}):{' ' * (37 - len(label))}{rate:7.1f} deliveries/s   ratio {rate / bare:.2f}"
        )
    shipped = rates[0]  # local activity + eager start, as the product runs
    print_figures(
        {"product_per_s": shipped, "baseline_per_s": bare, "ratio": shipped / bare, "persistent": False}
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("count", nargs="?", type=int, default=2000, help="events per run (default 2000)")
    parser.add_argument(
        "--variants", action="store_true", help="also run without eager start / local activity"
    )
    parser.add_argument(
        "--metrics-ab", type=int, metavar="ROUNDS", help="instead: ROUNDS interleaved metrics on/off pairs"
    )
    arguments = parser.parse_args()
    if arguments.metrics_ab:
        asyncio.run(metrics_cost(arguments.count, arguments.metrics_ab))
    else:
        asyncio.run(main(arguments.count, arguments.variants))
    exit_process(0)
