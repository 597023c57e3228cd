"""What one invocation costs the Temporal cluster, counted from real histories on the dev server.

One invocation per trigger type and response mode runs through the product path (``start_invocations``,
the worker, ``complete_invocation`` for callbacks) against a subscriber on loopback; the benchmark then
fetches its history and counts the events by type, reads the execution's state transition count
(``DescribeWorkflowExecution``), and takes from the dev server's Prometheus endpoint how many persistence
and visibility requests the namespace saw while it ran. The naive design (``bench.baseline``) is counted
the same way. docs/scaling.md sizes a cluster from these figures.

    python -m bench.history_cost [--repeat N]    # N invocations per case, requests averaged (default 3)
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from bench.baseline import BareDelivery, BarePost
from bench.common import (
    add_http_subscription,
    bench_settings,
    print_figures,
    product_context,
    scratch_dir,
    temporal_dev_server,
)
from event_triggers.catalog import load_catalog
from event_triggers.invocations.completion import complete_invocation
from event_triggers.invocations.start import start_invocations
from event_triggers.security.invocation_secret import invocation_secret
from event_triggers.temporal import INVOCATION_STATUS, exit_process
from tests.conftest import free_port, wait_until
from tests.subscriber import Reply, Subscriber
from worker import delivery_http_client

FIRE_AND_FORGET = "idn:identity-created"
REQUEST_RESPONSE = "idn:access-request-dynamic-approver"
WRITES = ("persistence_requests", "visibility_persistence_requests")
"""Counters of the dev server's metrics endpoint, by ``operation``."""


@dataclass(frozen=True)
class Case:
    key: str
    """Its prefix in the JSON line."""
    name: str
    trigger_id: str
    mode: str
    replies: tuple[Reply, ...] = ()
    callback: bool = False
    """The subscriber answers later through ``POST /{id}/complete``."""
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass
class Cost:
    events: collections.Counter[str] = field(default_factory=collections.Counter)
    state_transitions: int = 0
    writes: collections.Counter[str] = field(default_factory=collections.Counter)
    history_bytes: int = 0


def cases(output: dict[str, Any]) -> list[Case]:
    return [
        Case("fire_and_forget", "FIRE_AND_FORGET", FIRE_AND_FORGET, "SYNC"),
        Case(
            "fire_and_forget_retried",
            "FIRE_AND_FORGET, 1 retry (500 then 200)",
            FIRE_AND_FORGET,
            "SYNC",
            replies=(Reply(status=500),),
            settings={"retry_initial_interval": timedelta(milliseconds=200)},
        ),
        Case(
            "fire_and_forget_not_eager",
            "FIRE_AND_FORGET, no eager start (EVENT_TRIGGERS_EMBEDDED_WORKER=false, the production topology)",
            FIRE_AND_FORGET,
            "SYNC",
            settings={"embedded_worker": False},
        ),
        Case(
            "fire_and_forget_activity",
            "FIRE_AND_FORGET, regular activity (EVENT_TRIGGERS_LOCAL_DELIVERY=false)",
            FIRE_AND_FORGET,
            "SYNC",
            settings={"local_delivery": False},
        ),
        Case("sync", "REQUEST_RESPONSE SYNC", REQUEST_RESPONSE, "SYNC", replies=(Reply(body=output),)),
        Case("async", "REQUEST_RESPONSE ASYNC (callback)", REQUEST_RESPONSE, "ASYNC", callback=True),
        Case(
            "dynamic_now",
            "REQUEST_RESPONSE DYNAMIC, 200 with the output",
            REQUEST_RESPONSE,
            "DYNAMIC",
            replies=(Reply(body=output),),
        ),
        Case(
            "dynamic_callback",
            "REQUEST_RESPONSE DYNAMIC, 202 then callback",
            REQUEST_RESPONSE,
            "DYNAMIC",
            replies=(Reply(status=202),),
            callback=True,
        ),
    ]


async def server_writes(metrics_url: str) -> collections.Counter[str]:
    """The dev server's persistence and visibility request counters for the ``default`` namespace."""
    async with httpx.AsyncClient() as http:
        text = (await http.get(metrics_url)).text
    counts: collections.Counter[str] = collections.Counter()
    for line in text.splitlines():
        name, _, rest = line.partition("{")
        if name not in WRITES or ('namespace="' in rest and 'namespace="default"' not in rest):
            continue
        labels, _, value = rest.rpartition("} ")
        operation = labels.split('operation="', 1)[1].split('"', 1)[0]
        prefix = "visibility " if name.startswith("visibility") else ""
        counts[prefix + operation] += int(float(value))
    return counts


async def measure(
    client: Client, metrics_url: str, run: Callable[[], Awaitable[WorkflowHandle[Any, Any]]], repeat: int
) -> Cost:
    """``run`` ``repeat`` times, one at a time, after one that warms the task queue up (its creation and
    the worker's first polls are not the invocation's); events and transitions of the last, writes
    averaged."""
    await (await run()).result()
    await asyncio.sleep(2)
    before = await server_writes(metrics_url)
    cost = Cost()
    for _ in range(repeat):
        handle = await run()
        try:
            await handle.result()
        finally:
            history = await handle.fetch_history()
    await asyncio.sleep(2)  # visibility writes are queued tasks: let them land
    after = await server_writes(metrics_url)
    cost.events = collections.Counter(EventType.Name(event.event_type) for event in history.events)
    cost.history_bytes = sum(event.ByteSize() for event in history.events)
    description = await handle.describe()
    cost.state_transitions = description.raw_description.workflow_execution_info.state_transition_count
    cost.writes = collections.Counter(
        {key: round((after[key] - before[key]) / repeat) for key in after if after[key] > before[key]}
    )
    return cost


async def product_cost(
    environment: WorkflowEnvironment,
    subscriber: Subscriber,
    metrics_url: str,
    case: Case,
    *,
    output: dict[str, Any],
    repeat: int,
) -> Cost:
    settings = bench_settings(environment, scratch_dir(), **case.settings)
    async with product_context(settings) as context:
        payload = context.catalog.require(case.trigger_id).example_input
        subscriptions: list[str] = []

        async def run() -> WorkflowHandle[Any, Any]:
            for finished in subscriptions:  # its invocation is over: each event matches one subscription
                await context.store.delete_subscription(finished)
            path = subscriber.new_path(*case.replies)
            subscriptions[:] = [
                await add_http_subscription(
                    context.store, trigger_id=case.trigger_id, url=subscriber.url(path), mode=case.mode
                )
            ]
            [invocation] = await start_invocations(
                context=context, trigger_id=case.trigger_id, payload=payload, content_json={}
            )
            handle = context.client.get_workflow_handle(invocation.id)
            if case.callback:
                await wait_for_status(handle, "AWAITING_RESPONSE")
                await complete_invocation(
                    context=context,
                    invocation_id=invocation.id,
                    secret=invocation_secret(server_key=context.server_key, invocation_id=invocation.id),
                    output=output,
                    error=None,
                )
            return handle

        return await measure(environment.client, metrics_url, run, repeat)


async def baseline_cost(
    environment: WorkflowEnvironment, subscriber: Subscriber, metrics_url: str, *, repeat: int
) -> Cost:
    client = environment.client
    settings = bench_settings(environment, scratch_dir())
    payload = load_catalog().require(FIRE_AND_FORGET).example_input
    async with delivery_http_client(settings) as http_client:
        worker = Worker(
            client,
            task_queue=settings.task_queue,
            workflows=[BareDelivery],
            activities=[BarePost(http_client).bare_post],
        )
        async with worker:

            async def run() -> WorkflowHandle[Any, Any]:
                return await client.start_workflow(
                    BareDelivery.run,
                    args=[subscriber.url(subscriber.new_path()), payload],
                    id=str(uuid.uuid4()),
                    task_queue=settings.task_queue,
                )

            return await measure(client, metrics_url, run, repeat)


async def wait_for_status(handle: WorkflowHandle[Any, Any], status: str) -> None:
    """Until the invocation's ``InvocationStatus`` search attribute says ``status``."""

    async def reached() -> bool:
        description = await handle.describe()
        return description.typed_search_attributes.get(INVOCATION_STATUS) == status

    await wait_until(reached, interval=0.05)


def report(results: dict[str, Cost], names: dict[str, str], *, repeat: int) -> None:
    """A table per case: history events by type and persistence requests by operation."""
    for key, cost in results.items():
        print(f"\n== {names[key]}")
        print(
            f"   {sum(cost.events.values())} history events, {cost.history_bytes} bytes of history, "
            f"{cost.state_transitions} state transitions"
        )
        for event, count in sorted(cost.events.items()):
            print(f"   {count:3d}  {event.removeprefix('EVENT_TYPE_')}")
        print(f"   persistence requests per invocation (mean of {repeat}):")
        for operation, count in sorted(cost.writes.items()):
            print(f"   {count:3d}  {operation}")
    figures: dict[str, int] = {}
    for key, cost in results.items():
        figures[f"{key}_events"] = sum(cost.events.values())
        figures[f"{key}_state_transitions"] = cost.state_transitions
        figures[f"{key}_history_bytes"] = cost.history_bytes
        figures[f"{key}_persistence_requests"] = sum(
            count for operation, count in cost.writes.items() if not operation.startswith("visibility ")
        )
        figures[f"{key}_visibility_writes"] = sum(
            count for operation, count in cost.writes.items() if operation.startswith("visibility ")
        )
    print_figures(figures)


async def main(repeat: int) -> None:
    metrics_port = free_port()
    metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
    output = load_catalog().require(REQUEST_RESPONSE).example_output or {}
    results: dict[str, Cost] = {}
    names = {case.key: case.name for case in cases(output)}
    names["baseline"] = "baseline (bench.baseline): workflow + regular activity"
    async with temporal_dev_server(metrics_port=metrics_port) as environment, Subscriber() as subscriber:
        for case in cases(output):
            results[case.key] = await product_cost(
                environment, subscriber, metrics_url, case, output=output, repeat=repeat
            )
        results["baseline"] = await baseline_cost(environment, subscriber, metrics_url, repeat=repeat)
    report(results, names, repeat=repeat)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=3, help="invocations per case (default 3)")
    asyncio.run(main(parser.parse_args().repeat))
    exit_process(0)
