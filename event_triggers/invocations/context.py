"""What every invocation operation shares: the process's parts, its subscription reader included."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from temporalio.client import Client

from event_triggers.catalog import Catalog
from event_triggers.config import Settings
from event_triggers.eager_slots import EagerStartSlots
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
    workflow_slots: EagerStartSlots = field(init=False, repr=False, compare=False)
    """The workflow task slots of this process's worker, where eager starts go before pollers."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "payload_limits", NamespacePayloadLimits(self.client))
        object.__setattr__(self, "start_slots", asyncio.Semaphore(self.settings.max_concurrent_starts))
        object.__setattr__(
            self, "workflow_slots", EagerStartSlots(self.settings.worker_max_concurrent_deliveries)
        )

    @contextlib.asynccontextmanager
    async def start_turn(self) -> AsyncIterator[None]:
        """One workflow start's turn: at most ``max_concurrent_starts`` at once, and with the embedded
        worker a free workflow task slot for its eager start (waiting up to ``eager_start_wait``)."""
        eager_turn = (
            self.workflow_slots.start_turn(wait=self.settings.eager_start_wait)
            if self.settings.embedded_worker
            else contextlib.nullcontext()
        )
        async with self.start_slots, eager_turn:
            yield


def callback_url(settings: Settings, invocation_id: str) -> str:
    return f"{settings.callback_base_url}/trigger-invocations/v1/{invocation_id}/complete"
