"""OpenTelemetry: one start is one trace from the producer's request to the subscriber (in-memory exporter),
queue messages and EventBridge entries carry the trace context, and nothing is traced or sent when tracing
is not configured."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from event_triggers.config import Settings
from event_triggers.destinations.eventbridge import EVENTBRIDGE
from event_triggers.store import Store
from event_triggers.tracing import tracer_provider_from_environment, use_tracer_provider
from tests.conftest import RunningApi, delivery_resources
from tests.invocation_fixtures import FNF_INPUT, FNF_TRIGGER, create_subscription, finished, start
from tests.moto_server import REGION, aws, moto_endpoint  # noqa: F401 (fixtures used by name)
from tests.subscriber import Subscriber
from tests.test_rabbitmq import Inbox, create_rabbitmq_subscription, inbox  # noqa: F401 (fixture)
from tests.test_sqs import create_queue, create_sqs_subscription, receive

PRODUCER_SPAN_ID = "00f067aa0ba902b7"


@pytest.fixture
def traced() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    """Tracing on for the clients, apps and workers this test creates, into an in-memory exporter."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    use_tracer_provider(provider)
    yield provider, exporter
    use_tracer_provider(None)
    provider.shutdown()


def hex_ids(span: ReadableSpan) -> tuple[str, str]:
    context = span.get_span_context()
    assert context is not None
    return format(context.trace_id, "032x"), format(context.span_id, "016x")


async def test_one_start_is_one_trace_down_to_each_subscriber(
    traced: tuple[TracerProvider, InMemorySpanExporter], settings: Settings, subscriber: Subscriber
) -> None:
    _, exporter = traced
    trace_id = uuid.uuid4().hex
    paths = [subscriber.new_path(), subscriber.new_path()]
    async with RunningApi(settings) as running, await running.client() as api:
        for path in paths:
            await create_subscription(api, url=subscriber.url(path))
        invocations = await start(
            api, trigger_id=FNF_TRIGGER, payload=FNF_INPUT, traceparent=f"00-{trace_id}-{PRODUCER_SPAN_ID}-01"
        )
        assert len(invocations) == 2
        for invocation in invocations:
            assert (await finished(api, invocation["id"]))["status"] == "COMPLETED"
    delivered = [(await subscriber.wait_for(path))[0].headers["traceparent"] for path in paths]

    in_trace = [span for span in exporter.get_finished_spans() if hex_ids(span)[0] == trace_id]
    names = sorted(span.name for span in in_trace)
    for name in (
        "StartWorkflow:InvocationWorkflow",
        "RunWorkflow:InvocationWorkflow",
        "StartActivity:deliver_http",
        "RunActivity:deliver_http",
    ):
        assert names.count(name) == 2, (name, names)
    [request] = [span for span in in_trace if span.name == "POST /trigger-invocations/v1/start"]
    assert request.parent is not None and format(request.parent.span_id, "016x") == PRODUCER_SPAN_ID
    attempts = {hex_ids(span)[1] for span in in_trace if span.name == "RunActivity:deliver_http"}
    for traceparent in delivered:
        version, received_trace_id, span_id, flags = traceparent.split("-")
        assert (version, received_trace_id, flags) == ("00", trace_id, "01")
        assert span_id in attempts, "the subscriber joins the trace at its delivery attempt"


@pytest.mark.usefixtures("aws")
async def test_put_events_carries_the_trace_header(
    traced: tuple[TracerProvider, InMemorySpanExporter], settings: Settings
) -> None:
    provider, _ = traced
    store = await Store.open(settings)
    try:
        async with delivery_resources(settings, store) as resources:
            client = EVENTBRIDGE.activity(resources).clients.client(region=REGION, role_arn=None)
        sent: list[bytes] = []
        client.meta.events.register(
            "before-send.events.PutEvents", lambda request, **_: sent.append(request.body)
        )
        detail = json.dumps({"a": 1})
        with provider.get_tracer("test").start_as_current_span("delivery") as span:
            client.put_events(Entries=[{"Source": "s", "DetailType": "d", "Detail": detail}])
    finally:
        await store.close()
    [entry] = json.loads(sent[0])["Entries"]
    context = span.get_span_context()
    assert (
        entry["TraceHeader"] == f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}"
    )
    assert entry["Detail"] == detail, "the detail is not changed"


async def test_tracing_off_adds_no_header_and_no_span(settings: Settings, subscriber: Subscriber) -> None:
    path = subscriber.new_path()
    async with RunningApi(settings) as running, await running.client() as api:
        await create_subscription(api, url=subscriber.url(path))
        [invocation] = await start(
            api,
            trigger_id=FNF_TRIGGER,
            payload=FNF_INPUT,
            traceparent=f"00-{uuid.uuid4().hex}-{PRODUCER_SPAN_ID}-01",
        )
        await finished(api, invocation["id"])
        assert "OpenTelemetryMiddleware" not in repr(running.app.user_middleware)
        context = await running.state.invocation_context()
        assert not context.client.config()["interceptors"]
    [delivered] = subscriber.received(path)
    assert "traceparent" not in delivered.headers


def test_tracing_follows_the_otel_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_SDK_DISABLED"):
        monkeypatch.delenv(name, raising=False)
    assert tracer_provider_from_environment("event-triggers-api") is None
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
    provider = tracer_provider_from_environment("event-triggers-api")
    assert provider is not None
    assert provider.resource.attributes["service.name"] == "event-triggers-api"
    provider.shutdown()
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    assert tracer_provider_from_environment("event-triggers-api") is None


@pytest.mark.usefixtures("aws")
async def test_queue_messages_carry_the_traceparent(
    traced: tuple[TracerProvider, InMemorySpanExporter],
    settings: Settings,
    inbox: Inbox,  # noqa: F811 (the fixture)
) -> None:
    _, exporter = traced
    trace_id = uuid.uuid4().hex
    queue_url = create_queue()
    async with RunningApi(settings) as running, await running.client() as api:
        await create_sqs_subscription(api, queue_url)
        await create_rabbitmq_subscription(api, inbox)
        invocations = await start(
            api, trigger_id=FNF_TRIGGER, payload=FNF_INPUT, traceparent=f"00-{trace_id}-{PRODUCER_SPAN_ID}-01"
        )
        for invocation in invocations:
            assert (await finished(api, invocation["id"]))["status"] == "COMPLETED"
    sqs_traceparent = (await receive(queue_url))["MessageAttributes"]["traceparent"]["StringValue"]
    rabbitmq_traceparent = (await inbox.receive()).headers["traceparent"]
    attempts = {
        hex_ids(span)[1]
        for span in exporter.get_finished_spans()
        if span.name.startswith("RunActivity:") and hex_ids(span)[0] == trace_id
    }
    for traceparent in (sqs_traceparent, rabbitmq_traceparent):
        assert isinstance(traceparent, str)
        _, received_trace_id, span_id, _ = traceparent.split("-")
        assert received_trace_id == trace_id
        assert span_id in attempts
