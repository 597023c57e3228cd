"""Prometheus metrics (prometheus-client): what operators watch in the API and worker processes.

Every process keeps its metrics in prometheus-client's default registry. The API serves them on
``/metrics``; the worker on ``EVENT_TRIGGERS_WORKER_METRICS_PORT``. Each also re-exports the Temporal SDK's
own metrics (task slots, schedule-to-start latencies, ...): the SDK runtime's Prometheus exporter listens
on a loopback port and its samples are collected into the same registry at scrape time.

Labels stay bounded: trigger ids, destination types, outcomes; never invocation or subscription ids.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import socket
import time
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, ParamSpec, TypeVar

from prometheus_client import REGISTRY, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector
from temporalio import activity, workflow
from temporalio.exceptions import ApplicationError
from temporalio.runtime import PrometheusConfig
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    ExecuteWorkflowInput,
    Interceptor,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
)

from event_triggers.config import Settings
from event_triggers.destinations.registry import DESTINATIONS
from event_triggers.errors import (
    Conflict,
    Gone,
    InvalidField,
    NotFound,
    PayloadTooLarge,
    Unauthorized,
    Unavailable,
)
from event_triggers.invocation_models import RATE_LIMITED, WORKFLOW_TYPE

logger = logging.getLogger(__name__)

INVOCATIONS_STARTED = Counter(
    "event_triggers_invocations_started",
    "Invocations that began running (one per event and matching subscription)",
    ["trigger", "type"],
)
INVOCATIONS_FINISHED = Counter(
    "event_triggers_invocations_finished",
    "Invocations that reached a final status (COMPLETED, FAILED, TIMED_OUT)",
    ["trigger", "status"],
)
DELIVERIES = Counter(
    "event_triggers_deliveries",
    "Delivery attempts by destination type and outcome (success, retry, failure, rate_limited)",
    ["destination", "outcome"],
)
DELIVERY_DURATION = Histogram(
    "event_triggers_delivery_duration_seconds",
    "Duration of one delivery attempt, whatever its outcome",
    ["destination"],
)
CALLBACKS = Counter(
    "event_triggers_callbacks",
    "Subscriber callbacks (POST .../complete) by result",
    ["result"],
)
START_DURATION = Histogram(
    "event_triggers_start_duration_seconds",
    "Time to validate an event and start its invocations (POST /trigger-invocations/v1/start)",
)
AWAITING_RESPONSE = Gauge(
    "event_triggers_invocations_awaiting_response",
    "REQUEST_RESPONSE invocations waiting for a subscriber's answer (Temporal visibility, all processes)",
)


def destination_of(activity_type: str) -> str | None:
    """The destination type whose delivery activity this is (the ``destination`` label), per the
    registry; None for the worker's other activities, which deliver nothing themselves."""
    by_activity = {item.activity_name: item.type for item in DESTINATIONS.values()}
    return by_activity.get(activity_type)


CALLBACK_RESULTS: tuple[tuple[type[Exception], str], ...] = (
    (Unauthorized, "unauthorized"),
    (InvalidField, "invalid"),
    (Gone, "gone"),
    (Conflict, "conflict"),
    (NotFound, "not_found"),
    (Unavailable, "unavailable"),
    (PayloadTooLarge, "too_large"),
)

P = ParamSpec("P")
R = TypeVar("R")


def _metrics_enabled(kwargs: dict[str, Any]) -> bool:
    """Whether the ``context`` keyword argument of a domain function says to record metrics."""
    return bool(kwargs["context"].settings.metrics_enabled)


def timed_start(function: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Observe ``START_DURATION`` for each call of a start function (keyword argument ``context``)."""

    @functools.wraps(function)
    async def timed(*args: P.args, **kwargs: P.kwargs) -> R:
        if not _metrics_enabled(kwargs):
            return await function(*args, **kwargs)
        began = time.perf_counter()
        try:
            return await function(*args, **kwargs)
        finally:
            START_DURATION.observe(time.perf_counter() - began)

    return timed


def counted_callback(function: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Count each callback in ``CALLBACKS`` by its result: accepted, or the reason it was refused."""

    @functools.wraps(function)
    async def counted(*args: P.args, **kwargs: P.kwargs) -> R:
        if not _metrics_enabled(kwargs):
            return await function(*args, **kwargs)
        try:
            result = await function(*args, **kwargs)
        except Exception as exc:
            label = next((name for kind, name in CALLBACK_RESULTS if isinstance(exc, kind)), "error")
            CALLBACKS.labels(result=label).inc()
            raise
        CALLBACKS.labels(result="accepted").inc()
        return result

    return counted


def delivery_outcome(error: BaseException | None) -> str:
    """``success``; ``rate_limited`` when the attempt waits for its slot; ``failure`` when the attempt ends
    the delivery; else ``retry`` (it is tried again)."""
    if error is None:
        return "success"
    if isinstance(error, ApplicationError) and error.type == RATE_LIMITED:
        return "rate_limited"
    if isinstance(error, ApplicationError) and error.non_retryable:
        return "failure"
    return "retry"


class MetricsInterceptor(Interceptor):
    """Worker interceptor: counts delivery attempts and invocations as they start and finish."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _DeliveryMetrics(next)

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor] | None:
        return _InvocationMetrics


class _DeliveryMetrics(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        destination = destination_of(activity.info().activity_type)
        if destination is None:  # not a delivery (dead endpoints' failure counting, a replay's activities)
            return await super().execute_activity(input)
        began = time.perf_counter()
        error: BaseException | None = None
        try:
            return await super().execute_activity(input)
        except BaseException as exc:
            error = exc
            raise
        finally:
            DELIVERY_DURATION.labels(destination=destination).observe(time.perf_counter() - began)
            DELIVERIES.labels(destination=destination, outcome=delivery_outcome(error)).inc()


class _InvocationMetrics(WorkflowInboundInterceptor):
    """Counts outside replay only, so a workflow replayed on another worker is not counted twice; counts
    invocations only (a ``ReplayWorkflow`` is not one)."""

    async def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:
        if workflow.info().workflow_type != WORKFLOW_TYPE:
            return await super().execute_workflow(input)
        request = input.args[0]
        trigger = getattr(request, "trigger_id", workflow.info().workflow_type)
        if not workflow.unsafe.is_replaying():
            invocation_type = getattr(request, "invocation_type", "")
            INVOCATIONS_STARTED.labels(trigger=trigger, type=str(invocation_type)).inc()
        try:
            result = await super().execute_workflow(input)
        except ApplicationError as failure:  # the workflow failed with its final status as the type
            if not workflow.unsafe.is_replaying():
                INVOCATIONS_FINISHED.labels(trigger=trigger, status=failure.type or "FAILED").inc()
            raise
        if not workflow.unsafe.is_replaying():
            status = getattr(result, "status", "COMPLETED")
            INVOCATIONS_FINISHED.labels(trigger=trigger, status=str(status)).inc()
        return result


class TemporalSdkMetrics(Collector):
    """The Temporal SDK runtime's Prometheus exporter (on loopback), collected into this registry."""

    def __init__(self, url: str) -> None:
        self.url = url

    def describe(self) -> list[Metric]:
        return []  # names are known only at scrape time; none collides (they start with ``temporal_``)

    def collect(self) -> Iterator[Metric]:
        try:
            with urllib.request.urlopen(self.url, timeout=2) as response:
                text = response.read().decode()
        except OSError as exc:
            logger.warning("cannot read the Temporal SDK metrics at %s: %s", self.url, exc)
            return
        yield from text_string_to_metric_families(text)


def free_loopback_port() -> int:
    """A loopback port free right now (the SDK exporter's, the dev stack's worker endpoint)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def sdk_prometheus_exporter() -> PrometheusConfig:
    """The Temporal runtime's Prometheus exporter on a loopback port, collected into the registry.

    Call once per process (a runtime is created once).
    """
    address = f"127.0.0.1:{free_loopback_port()}"
    REGISTRY.register(TemporalSdkMetrics(f"http://{address}/metrics"))
    return PrometheusConfig(
        bind_address=address, counters_total_suffix=True, unit_suffix=True, durations_as_seconds=True
    )


@contextlib.contextmanager
def serve_metrics(settings: Settings) -> Iterator[None]:
    """The worker's ``/metrics`` endpoint on ``worker_metrics_port``, while the context lasts (if set)."""
    if not settings.metrics_enabled or settings.worker_metrics_port is None:
        yield
        return
    server, thread = start_http_server(settings.worker_metrics_port, addr=settings.worker_metrics_host)
    logger.info(
        "worker metrics on http://%s:%d/metrics", settings.worker_metrics_host, settings.worker_metrics_port
    )
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
