"""OpenTelemetry traces, from the producer's request to the subscriber.

Configured by the standard ``OTEL_*`` variables: with ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) set, spans go to that OTLP collector over HTTP/protobuf. Without it
nothing is installed: no middleware, no interceptor, no header, so tracing off costs nothing.

When on: the API request (continuing a producer's ``traceparent``), the workflow start, the workflow and
each delivery attempt are spans of one trace per event (Temporal's ``TracingInterceptor`` carries the
context through workflow headers); each HTTP delivery carries the delivery's W3C ``traceparent``, each SQS
and RabbitMQ message the same value as a ``traceparent`` attribute/header and each EventBridge entry its
``TraceHeader``, so a subscriber can join the trace.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import httpx
from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from temporalio.contrib.opentelemetry import TracingInterceptor

logger = logging.getLogger(__name__)

TRACER_NAME = "event_triggers"
TRACEPARENT = "traceparent"
UNTRACED_PATHS = "health,ready,metrics"
"""Probes and scrapes: frequent, and nothing to follow."""
W3C = TraceContextTextMapPropagator()

_provider: TracerProvider | None = None


def tracer_provider_from_environment(service_name: str) -> TracerProvider | None:
    """An SDK tracer provider exporting over OTLP when the ``OTEL_*`` variables ask for one, else None."""
    environment = os.environ
    if environment.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return None
    if environment.get("OTEL_TRACES_EXPORTER", "otlp").lower() == "none":
        return None
    if not (
        environment.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        or environment.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    ):
        return None
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    defaults = {} if environment.get("OTEL_SERVICE_NAME") else {SERVICE_NAME: service_name}
    provider = TracerProvider(resource=Resource.create(defaults))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    return provider


def configure_tracing(service_name: str) -> None:
    """At process start: trace as the environment says (``service_name`` unless OTEL_SERVICE_NAME)."""
    provider = tracer_provider_from_environment(service_name)
    if provider is not None:
        trace.set_tracer_provider(provider)
        logger.info("tracing on: spans go to the OTLP endpoint of the OTEL_* environment")
    use_tracer_provider(provider)


def use_tracer_provider(provider: TracerProvider | None) -> None:
    """Trace this process's next clients, apps and workers with ``provider`` (None: tracing off)."""
    global _provider
    _provider = provider


def tracer_provider() -> TracerProvider | None:
    return _provider


def temporal_interceptors() -> list[TracingInterceptor]:
    """Temporal's tracing interceptor for a client (its workers inherit it), or none when tracing is off."""
    if _provider is None:
        return []
    return [TracingInterceptor(_provider.get_tracer(TRACER_NAME))]


def instrument_app(app: FastAPI) -> None:
    """A server span per request, continuing the caller's ``traceparent``; nothing when tracing is off."""
    if _provider is None:
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(
        app, tracer_provider=_provider, excluded_urls=UNTRACED_PATHS, exclude_spans=["receive", "send"]
    )


def current_traceparent() -> str | None:
    """The W3C ``traceparent`` of the current span (the delivery attempt), if one is being traced."""
    carrier: dict[str, str] = {}
    W3C.inject(carrier)
    return carrier.get(TRACEPARENT)


def trace_headers() -> dict[str, str]:
    """``{"traceparent": ...}`` for a queue message's headers or attributes; empty when not traced."""
    traceparent = current_traceparent()
    return {TRACEPARENT: traceparent} if traceparent is not None else {}


async def add_traceparent(request: httpx.Request) -> None:
    """httpx request hook: the delivery's ``traceparent`` header, so the subscriber can join the trace."""
    traceparent = current_traceparent()
    if traceparent is not None:
        request.headers[TRACEPARENT] = traceparent


def delivery_event_hooks() -> dict[str, list[Any]]:
    """httpx ``event_hooks`` for the delivery client: ``traceparent`` on every request when tracing is on."""
    return {"request": [add_traceparent]} if _provider is not None else {}


def add_trace_header(params: dict[str, Any], **_: Any) -> None:
    """botocore hook before ``PutEvents``: each entry gets EventBridge's own ``TraceHeader``."""
    traceparent = current_traceparent()
    if traceparent is not None:
        for entry in params.get("Entries", []):
            entry.setdefault("TraceHeader", traceparent)


def trace_put_events(client: Any) -> None:
    """Register ``add_trace_header`` on an EventBridge client when tracing is on."""
    if _provider is not None:
        client.meta.events.register("before-parameter-build.events.PutEvents", add_trace_header)
