"""Fan-out: one event to S HTTP subscriptions of one trigger vs S separate events to one subscription.

Both arms deliver the same number of events (``--deliveries``, default 2000) through the product path
(``start_invocations`` with the product's worker in this process, as ``bench.throughput``), with the same
number of producer requests in flight, each arm on a fresh dev server and store. A fan-out must not be
slower per delivery than as many separate events. Figures are printed, not asserted; the last line is a
JSON object of them.

    python -m bench.fanout [S] [--deliveries N]    # default S = 50
"""

from __future__ import annotations

import argparse
import asyncio

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


async def main(subscriptions: int, total: int) -> None:
    events = max(1, total // subscriptions)
    count = events * subscriptions
    print(f"{count} deliveries: {events} events x {subscriptions} subscriptions vs {count} events x 1")
    fanout = await measure(subscriptions=subscriptions, events=events)
    print(f"fan-out  ({events} events to {subscriptions} subscriptions each): {fanout}", flush=True)
    separate = await measure(subscriptions=1, events=count)
    print(f"separate ({count} events to 1 subscription):{' ' * 12}{separate}", flush=True)
    ratio = fanout.per_s / separate.per_s
    print(f"ratio fan-out / separate: {ratio:.2f}")
    print_figures(
        {
            "subscriptions": subscriptions,
            "fanout_per_s": fanout.per_s,
            "separate_per_s": separate.per_s,
            "ratio": ratio,
            "deliveries": count,
        }
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("subscriptions", nargs="?", type=int, default=50, help="subscriptions (default 50)")
    parser.add_argument("--deliveries", type=int, default=2000, help="deliveries per arm (default 2000)")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.subscriptions, arguments.deliveries))
    exit_process(0)
