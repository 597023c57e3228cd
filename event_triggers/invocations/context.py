"""What every invocation operation shares: the process's parts and the fan-out's subscription reads."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import NamedTuple

from temporalio.client import Client

from event_triggers.catalog import Catalog
from event_triggers.config import Settings
from event_triggers.store import Store, Subscription


class EnabledSubscriptionReads:
    """A trigger's enabled subscriptions for the fan-out, read at most once per ``ttl``.

    Concurrent events of one trigger share one query; the answer is then reused for ``ttl``
    (``EVENT_TRIGGERS_FANOUT_CACHE_TTL``, 1 s), unless this process changed a subscription since: the
    store's write generation invalidates it, so an API replica sees its own writes at once and other
    replicas' within ``ttl``.
    """

    def __init__(self, store: Store, *, ttl: float) -> None:
        self._store = store
        self._ttl = ttl
        self._reads: dict[str, _SubscriptionRead] = {}

    async def read(self, trigger_id: str) -> list[Subscription]:
        now = time.monotonic()
        read = self._reads.get(trigger_id)
        if read is None or not read.reusable(now=now, generation=self._store.generation):
            query = asyncio.ensure_future(
                self._store.list_subscriptions(trigger_id=trigger_id, enabled_only=True)
            )
            read = _SubscriptionRead(now + self._ttl, self._store.generation, query)
            self._reads[trigger_id] = read
            query.add_done_callback(lambda done: self._forget_failure(trigger_id, done))
        return list(await asyncio.shield(read.query))

    def _forget_failure(self, trigger_id: str, query: asyncio.Future[list[Subscription]]) -> None:
        """A failed read is not reused: the next event asks the database again."""
        read = self._reads.get(trigger_id)
        if read is not None and read.query is query and (query.cancelled() or query.exception() is not None):
            del self._reads[trigger_id]


class _SubscriptionRead(NamedTuple):
    expires: float
    generation: int
    query: asyncio.Future[list[Subscription]]

    def reusable(self, *, now: float, generation: int) -> bool:
        """In flight, or answered recently, and no write by this process since it started."""
        return generation == self.generation and (not self.query.done() or now < self.expires)


@dataclass(frozen=True, kw_only=True)
class InvocationContext:
    """What every invocation operation needs; built once per process (or per request from shared parts)."""

    settings: Settings
    store: Store
    catalog: Catalog
    client: Client
    server_key: bytes
    enabled_subscriptions: EnabledSubscriptionReads = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        reads = EnabledSubscriptionReads(self.store, ttl=self.settings.fanout_cache_ttl.total_seconds())
        object.__setattr__(self, "enabled_subscriptions", reads)


def callback_url(settings: Settings, invocation_id: str) -> str:
    return f"{settings.callback_base_url}/trigger-invocations/v1/{invocation_id}/complete"
