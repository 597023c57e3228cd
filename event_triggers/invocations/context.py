"""What every invocation operation shares: the process's parts, its subscription reader included."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from temporalio.client import Client

from event_triggers.catalog import Catalog
from event_triggers.config import Settings
from event_triggers.payload_limits import NamespacePayloadLimits
from event_triggers.store import Store
from event_triggers.subscription_reads import SubscriptionReads


@dataclass(frozen=True, kw_only=True)
class InvocationContext:
    """What every invocation operation needs; built once per process (or per request from shared parts)."""

    settings: Settings
    store: Store
    catalog: Catalog
    client: Client
    server_key: bytes
    subscriptions: SubscriptionReads
    """The process's one subscription reader (its embedded worker reads through it too)."""
    payload_limits: NamespacePayloadLimits = field(init=False, repr=False, compare=False)
    start_slots: asyncio.Semaphore = field(init=False, repr=False, compare=False)
    """Bounds this process's workflow starts in flight (``settings.max_concurrent_starts``)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "payload_limits", NamespacePayloadLimits(self.client))
        object.__setattr__(self, "start_slots", asyncio.Semaphore(self.settings.max_concurrent_starts))


def callback_url(settings: Settings, invocation_id: str) -> str:
    return f"{settings.callback_base_url}/trigger-invocations/v1/{invocation_id}/complete"
