"""What the benchmarks share: a throwaway Temporal dev server, settings, the product's worker and start
context in this process, a subscription, percentiles, process figures, and the JSON line each ends its
output with."""

from __future__ import annotations

import json
import statistics
import tempfile
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import psutil
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from event_triggers.catalog import load_catalog
from event_triggers.config import Settings
from event_triggers.invocations.context import InvocationContext
from event_triggers.keys import load_server_key
from event_triggers.migrations import upgrade_schema
from event_triggers.models import SubscriptionFields
from event_triggers.security.webhook_signing import generate_signing_secret
from event_triggers.store import Store
from event_triggers.subscription_reads import SubscriptionReads
from event_triggers.temporal import SEARCH_ATTRIBUTES, connect, temporal_cli_path
from tests.conftest import TEST_KEYS
from worker import delivery_worker


@asynccontextmanager
async def temporal_dev_server(
    *, persistent: bool = False, metrics_port: int | None = None
) -> AsyncIterator[WorkflowEnvironment]:
    """``temporal server start-dev`` with our search attributes, stopped on exit: in memory, or with
    ``persistent`` its history in a SQLite file as ``event-triggers dev`` keeps it."""
    arguments = ["--db-filename", str(scratch_dir() / "temporal.db")] if persistent else []
    if metrics_port is not None:
        arguments += ["--metrics-port", str(metrics_port)]
    environment = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_cli_path(),
        search_attributes=SEARCH_ATTRIBUTES,
        data_converter=pydantic_data_converter,
        dev_server_log_level="never",
        dev_server_extra_args=arguments,
        ui=False,
    )
    async with environment:
        yield environment


def child_process(argument: str) -> psutil.Process:
    """A process this one started (at any depth) with ``argument`` in its command line."""
    for child in psutil.Process().children(recursive=True):
        if argument in child.cmdline():
            return child
    raise RuntimeError(f"no process with {argument!r} in its command line among this process's children")


def dev_server_process() -> psutil.Process:
    """The dev server this process started (``temporal server start-dev``), to read its CPU and memory."""
    return child_process("start-dev")


def peak_rss_mb(process: psutil.Process) -> float:
    """The process's peak resident set size so far (Linux ``VmHWM``), in MB."""
    for line in Path(f"/proc/{process.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for process {process.pid}")


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


def bench_settings(environment: WorkflowEnvironment, data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "temporal_address": environment.client.service_client.config.target_host,
        "task_queue": f"bench-{uuid.uuid4().hex[:8]}",
        "destination_allowlist": ["127.0.0.0/8"],
        **TEST_KEYS,  # every process of a run shares them, as replicas do
    }
    values.update(overrides)
    return Settings(**values)


async def open_store(settings: Settings) -> Store:
    """The store, migrated first as ``event-triggers setup`` does."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    await upgrade_schema(settings.effective_database_url)
    return await Store.open(settings)


@asynccontextmanager
async def product_context(settings: Settings, *, worker: bool = True) -> AsyncIterator[InvocationContext]:
    """What the API process holds to start and complete invocations (store, catalog, client), with the
    product's worker running on the same client unless ``worker`` is false; closed on exit."""
    store = await open_store(settings)
    catalog = load_catalog()
    client = await connect(settings)  # as the API's: the SDK metrics runtime when metrics are on
    context = InvocationContext(
        settings=settings,
        store=store,
        catalog=catalog,
        client=client,
        server_key=load_server_key(settings),
        subscriptions=SubscriptionReads(store),
    )
    try:
        if not worker:
            yield context
            return
        async with delivery_worker(context) as running, running:
            yield context
    finally:
        await store.close()


def scratch_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="event-triggers-bench-"))


async def add_http_subscription(store: Store, *, trigger_id: str, url: str, mode: str = "SYNC") -> str:
    subscription_id = str(uuid.uuid4())
    fields = SubscriptionFields.model_validate(
        {
            "name": "bench subscriber",
            "triggerId": trigger_id,
            "type": "HTTP",
            "httpConfig": {"url": url, "httpDispatchMode": mode},
        }
    )
    await store.add_subscription(
        subscription_id=subscription_id, fields=fields, signing_secret=generate_signing_secret()
    )
    return subscription_id


def percentile(samples: list[float], fraction: float) -> float:
    """Nearest-rank percentile of ``samples`` (seconds)."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def describe_ms(samples: list[float]) -> str:
    return (
        f"p50 {percentile(samples, 0.5) * 1000:6.1f} ms   p99 {percentile(samples, 0.99) * 1000:6.1f} ms   "
        f"mean {statistics.fmean(samples) * 1000:6.1f} ms   (n={len(samples)})"
    )


def print_figures(figures: Mapping[str, float | int | bool]) -> None:
    """Print the benchmark's last line: its figures as one JSON object, for scripts to read without
    parsing the tables above it (floats rounded to 0.01)."""
    rounded = {key: round(value, 2) if isinstance(value, float) else value for key, value in figures.items()}
    print(json.dumps(rounded), flush=True)
