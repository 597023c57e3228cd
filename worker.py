"""Worker entry point: runs ``InvocationWorkflow``, ``ReplayWorkflow`` and their activities
(``event-triggers worker``).

``delivery_worker`` (built by ``build_worker``) is shared by the standalone worker, the worker embedded in
the API process (for eager workflow start) and the benchmarks, so they all run the same configuration.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import timedelta
from typing import Any

import httpx
from temporalio.client import Client
from temporalio.worker import FixedSizeSlotSupplier, Worker, WorkerTuner

from activities.attempts import AttemptTimingInterceptor
from activities.replays import ReplayActivities
from activities.subscription_health import EndFailureStreaks, SubscriptionHealth
from activities.subscription_reader import SubscriptionReader
from event_triggers.catalog import load_catalog
from event_triggers.config import Settings
from event_triggers.destinations.base import DeliveryActivity, DeliveryResources
from event_triggers.destinations.outcomes import DeliveryFailureLog
from event_triggers.destinations.registry import DESTINATIONS
from event_triggers.eager_slots import EagerStartSlots
from event_triggers.inline_activations import InlineActivations, watch_loop
from event_triggers.invocations.context import InvocationContext
from event_triggers.keys import load_server_key
from event_triggers.logs import LogIdsInterceptor, configure_logging
from event_triggers.metrics import MetricsInterceptor, serve_metrics
from event_triggers.rate_limits import DeliveryRateLimiter
from event_triggers.security.ssrf import DestinationPolicy, GuardedTransport
from event_triggers.startup import check_settings
from event_triggers.store import Store
from event_triggers.subscription_reads import SubscriptionReads
from event_triggers.temporal import connect
from event_triggers.tracing import configure_tracing, delivery_event_hooks
from workflows.invocation import InvocationWorkflow
from workflows.replay import ReplayWorkflow

logger = logging.getLogger(__name__)

SHUTDOWN_MARGIN = timedelta(seconds=5)


def delivery_http_client(settings: Settings) -> httpx.AsyncClient:
    """The one HTTP client of a worker: pooled connections, never follows redirects, connects only to
    addresses the SSRF guard checked (private ranges refused unless allowlisted), adds ``traceparent``."""
    limits = httpx.Limits(
        max_connections=settings.worker_max_concurrent_deliveries, max_keepalive_connections=200
    )
    pool = httpx.AsyncHTTPTransport(limits=limits)
    guarded = GuardedTransport(DestinationPolicy(settings.delivery_allowlist), pool)
    return httpx.AsyncClient(follow_redirects=False, transport=guarded, event_hooks=delivery_event_hooks())


def build_worker(
    client: Client,
    settings: Settings,
    *,
    deliveries: Sequence[DeliveryActivity[Any]],
    health: SubscriptionHealth,
    replays: ReplayActivities,
    subscriptions: SubscriptionReads,
    workflow_slots: EagerStartSlots,
) -> Worker:
    """A worker on ``settings.task_queue``; shutting down lets running deliveries finish first.

    A slot per delivery in flight of every kind (a local delivery holds a workflow task slot too), so a
    burst of eager starts finds free slots instead of falling back to the task queue; the workflow task
    slots are ``workflow_slots``, where this process's starts go before pollers.
    """
    slots = settings.worker_max_concurrent_deliveries
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=[InvocationWorkflow, ReplayWorkflow],
        activities=[
            *(delivery.definition for delivery in deliveries),
            health.record_invocation_failure,
            replays.list_originals,
            replays.redeliver_originals,
        ],
        tuner=WorkerTuner.create_composite(
            workflow_supplier=workflow_slots,
            activity_supplier=FixedSizeSlotSupplier(slots),
            local_activity_supplier=FixedSizeSlotSupplier(slots),
            nexus_supplier=FixedSizeSlotSupplier(slots),
        ),
        max_cached_workflows=settings.worker_max_cached_workflows,
        workflow_task_executor=InlineActivations() if settings.worker_inline_activations else None,
        graceful_shutdown_timeout=settings.delivery_timeout + SHUTDOWN_MARGIN,
        interceptors=[
            LogIdsInterceptor(),
            DeliveryFailureLog(),
            *([MetricsInterceptor()] if settings.metrics_enabled else []),
            EndFailureStreaks(subscriptions),
            AttemptTimingInterceptor(),
        ],
    )


@asynccontextmanager
async def delivery_worker(context: InvocationContext) -> AsyncIterator[Worker]:
    """A worker with every registered destination's activity, the failure counting of dead endpoints and
    the replays', owning the deliveries' HTTP client and connections (closed on exit); not yet running.
    With activations inline, a stalled event loop is reported while it is open. ``context`` is the
    process's."""
    settings = context.settings
    async with delivery_http_client(settings) as http_client, AsyncExitStack() as stack:
        resources = DeliveryResources(
            settings=settings,
            catalog=context.catalog,
            subscriptions=SubscriptionReader(context.subscriptions),
            http_client=http_client,
            destination_policy=DestinationPolicy(settings.delivery_allowlist),
            server_key=context.server_key,
            limiter=DeliveryRateLimiter(context.store),
        )
        deliveries = [destination.activity(resources) for destination in DESTINATIONS.values()]
        for delivery in deliveries:
            stack.push_async_callback(delivery.aclose)
        worker = build_worker(
            context.client,
            settings,
            deliveries=deliveries,
            health=SubscriptionHealth(context),
            replays=ReplayActivities(context),
            subscriptions=context.subscriptions,
            workflow_slots=context.workflow_slots,
        )
        if settings.worker_inline_activations:  # after the SDK's build id, which may compile for seconds
            await stack.enter_async_context(watch_loop())
        yield worker


async def run_worker(settings: Settings) -> None:
    """Run until SIGTERM or SIGINT, then stop polling and let in-flight deliveries finish."""
    check_settings(settings, api=False)
    configure_logging(settings)
    configure_tracing("event-triggers-worker")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signal_number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signal_number, stop.set)
    client = await connect(settings)
    store = await Store.open(settings)
    try:
        context = InvocationContext(
            settings=settings,
            store=store,
            catalog=load_catalog(extra_dirs=settings.catalog_dirs),
            client=client,
            server_key=load_server_key(settings),
            subscriptions=SubscriptionReads(store),
        )
        with serve_metrics(settings):
            async with delivery_worker(context) as worker, worker:
                logger.info(
                    "worker polling task queue %s at %s", settings.task_queue, settings.temporal_address
                )
                await stop.wait()
                logger.info("shutting down: finishing in-flight deliveries")
    finally:
        await store.close()
    logger.info("worker stopped")
