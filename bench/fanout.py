"""Fan-out: one event to S HTTP subscriptions of one trigger vs S separate events to one subscription.

Both arms deliver the same number of events (``--deliveries``, default 2000) through the product path
(``start_invocations`` with the product's worker in this process, as ``bench.throughput``), with the same
number of producer requests in flight, each arm on a fresh dev server and store. A fan-out must not be
slower per delivery than as many separate events. Figures are printed, not asserted; the last line is a
JSON object of them.

    python -m bench.fanout [S] [--deliveries N] [--runs R]    # default S = 50; R pairs, their medians

With ``--runs``, run 1 measures the fan-out first, run 2 the separate events first, and so on.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics

from temporalio.testing import WorkflowEnvironment

from bench.common import (
    add_http_subscription,
    bench_settings,
    print_figures,
    product_context,
    scratch_dir,
    temporal_dev_server,
)
from bench.throughput import START_CONCURRENCY, TRIGGER_ID, WARM_UP, Rate, product, run_bounded, timed
from event_triggers.invocations.start import start_invocations
from event_triggers.temporal import exit_process
from tests.subscriber import Subscriber


async def deliveries(environment: WorkflowEnvironment, *, subscriptions: int, events: int) -> Rate:
    """``events`` events of a trigger with ``subscriptions`` subscriptions, until all are delivered."""
    settings = bench_settings(environment, scratch_dir())
    async with Subscriber() as subscriber, product_context(settings) as context:
        path = subscriber.new_path()
        for _ in range(subscriptions):
            await add_http_subscription(context.store, trigger_id=TRIGGER_ID, url=subscriber.url(path))
        payload = context.catalog.require(TRIGGER_ID).example_input
        count = subscriptions * events

        async def deliver() -> None:
            await run_bounded(
                events,
                lambda: start_invocations(
                    context=context, trigger_id=TRIGGER_ID, payload=payload, content_json={}
                ),
                concurrency=min(START_CONCURRENCY, events),
            )
            await subscriber.wait_for_deliveries(path, count, within=900)

        return await timed(count, deliver, received=lambda: len(subscriber.received(path)))


async def measure(*, subscriptions: int, events: int) -> Rate:
    """On a fresh dev server, after the warm-up ``bench.throughput`` does."""
    async with temporal_dev_server() as environment:
        await product(environment, WARM_UP)
        return await deliveries(environment, subscriptions=subscriptions, events=events)


async def main(subscriptions: int, total: int, *, runs: int) -> None:
    events = max(1, total // subscriptions)
    count = events * subscriptions
    print(f"{count} deliveries: {events} events x {subscriptions} subscriptions vs {count} events x 1")
    fanouts, separates, ratios = [], [], []
    for run_number in range(1, runs + 1):
        # The arms alternate, so the machine's drift hits both alike; the first arm alternates too (A-B,
        # B-A, ...), so a steady drift over the series favours neither.
        if run_number % 2:
            fanout = await measure(subscriptions=subscriptions, events=events)
            separate = await measure(subscriptions=1, events=count)
        else:
            separate = await measure(subscriptions=1, events=count)
            fanout = await measure(subscriptions=subscriptions, events=events)
        ratios.append(fanout.per_s / separate.per_s)
        print(f"run {run_number}: fan-out  ({events} events to {subscriptions} subscriptions each): {fanout}")
        print(
            f"run {run_number}: separate ({count} events to 1 subscription):{' ' * 12}{separate}   "
            f"ratio {ratios[-1]:.2f}",
            flush=True,
        )
        fanouts.append(fanout.per_s)
        separates.append(separate.per_s)
    print(
        f"median of {runs}: fan-out {statistics.median(fanouts):.1f}, separate "
        f"{statistics.median(separates):.1f} deliveries/s, ratio {statistics.median(ratios):.2f} "
        f"(ratios {', '.join(f'{ratio:.2f}' for ratio in ratios)})"
    )
    print_figures(
        {
            "subscriptions": subscriptions,
            "fanout_per_s": statistics.median(fanouts),
            "separate_per_s": statistics.median(separates),
            "ratio": statistics.median(ratios),
            "deliveries": count,
            "runs": runs,
        }
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("subscriptions", nargs="?", type=int, default=50, help="subscriptions (default 50)")
    parser.add_argument("--deliveries", type=int, default=2000, help="deliveries per arm (default 2000)")
    parser.add_argument(
        "--runs", type=int, default=1, help="fan-out/separate pairs; figures are their medians (default 1)"
    )
    arguments = parser.parse_args()
    asyncio.run(main(arguments.subscriptions, arguments.deliveries, runs=arguments.runs))
    exit_process(0)
