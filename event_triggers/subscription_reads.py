"""The one reader of subscriptions for invocations, shared by the fan-out (API) and deliveries (workers).

Every change of a subscription (PUT, PATCH, rotation, disable, the start and end of a failure streak)
commits a new ``revision`` before the API answers. The guarantee built on it (docs/invocations.md,
"Edits and invocations"):

- **Starts**: each start gets the revisions of its trigger's startable subscriptions (enabled or paused;
  one indexed query, no decryption) from a query that began after the start did, so a start that begins
  after an edit's answer, on any API replica, sees the edit. Starts that arrive while such a query runs
  share the next one. Whole subscriptions (credentials decrypted) are read again only when those
  revisions changed.
- **Deliveries**: the invocation carries the revision it started with; a first attempt uses a cached copy
  only if it is that revision or newer, and every retry reads the store, so a fixed URL heals pending
  retries. A copy is always one whole revision: configurations are never mixed.
"""

from __future__ import annotations

import asyncio
import functools
from typing import NamedTuple

from event_triggers.store import Store, Subscription


class _StartableRead(NamedTuple):
    revisions: dict[str, int]
    """The startable subscriptions' revisions (by id) the read was made for."""
    query: asyncio.Future[list[Subscription]]


class SubscriptionReads:
    """One per process: the API's fan-out and the worker in the same process share its copies."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._newest: dict[str, Subscription] = {}
        self._startable: dict[str, _StartableRead] = {}
        self._next_revisions: dict[str, asyncio.Future[dict[str, int]]] = {}
        self._revision_readers: dict[str, asyncio.Task[None]] = {}

    @property
    def store(self) -> Store:
        """The store it reads (a worker's rate limiter and failure counting share it)."""
        return self._store

    async def startable_for_trigger(self, trigger_id: str) -> list[Subscription]:
        """The trigger's subscriptions that an event starts invocations for (enabled, or paused by an
        automatic disable) as of now: the revisions come from a query that began after this call;
        concurrent starts that see the same revisions share one read of the subscriptions."""
        revisions = await self._fresh_revisions(trigger_id)
        read = self._startable.get(trigger_id)
        if read is None or read.revisions != revisions:
            read = _StartableRead(revisions, asyncio.ensure_future(self._read_startable(trigger_id)))
            self._startable[trigger_id] = read
            read.query.add_done_callback(functools.partial(self._forget_failure, trigger_id))
        return list(await asyncio.shield(read.query))

    async def _fresh_revisions(self, trigger_id: str) -> dict[str, int]:
        """The trigger's startable revisions, read by a query that began after this call.

        One query runs per trigger at a time; the calls that arrive meanwhile wait for the next one and
        share it, so a burst of starts costs a few queries, not one each, and none sees a read older
        than itself."""
        waiting = self._next_revisions.get(trigger_id)
        if waiting is None:
            waiting = asyncio.get_running_loop().create_future()
            self._next_revisions[trigger_id] = waiting
            if trigger_id not in self._revision_readers:
                self._revision_readers[trigger_id] = asyncio.create_task(self._read_revisions(trigger_id))
        return await asyncio.shield(waiting)

    async def _read_revisions(self, trigger_id: str) -> None:
        """Answer the waiting calls of ``trigger_id``, one query per round, until none wait."""
        waiting = None
        try:
            while (waiting := self._next_revisions.pop(trigger_id, None)) is not None:
                try:
                    waiting.set_result(await self._store.startable_revisions(trigger_id=trigger_id))
                except Exception as error:  # every caller of this round gets it; the next round asks again
                    waiting.set_exception(error)
                    waiting.exception()  # retrieved here too, so a round whose callers all left logs nothing
        finally:  # cancelled (the process stops): nobody is left waiting for an answer that will not come
            del self._revision_readers[trigger_id]
            for unanswered in (waiting, self._next_revisions.pop(trigger_id, None)):
                if unanswered is not None:
                    unanswered.cancel()

    async def for_delivery(self, subscription_id: str, *, revision: int, fresh: bool) -> Subscription | None:
        """The subscription at ``revision`` or newer (None once deleted); ``fresh`` always reads the store."""
        cached = self._newest.get(subscription_id)
        if cached is not None and not fresh and cached.revision >= revision:
            return cached
        subscription = await self._store.get_subscription(subscription_id)
        if subscription is None:
            self._newest.pop(subscription_id, None)
        else:
            self._remember(subscription)
        return subscription

    def cached(self, subscription_id: str) -> Subscription | None:
        """The newest copy this process has read, without asking the store."""
        return self._newest.get(subscription_id)

    async def _read_startable(self, trigger_id: str) -> list[Subscription]:
        subscriptions = await self._store.list_subscriptions(trigger_id=trigger_id, startable_only=True)
        for subscription in subscriptions:
            self._remember(subscription)
        return subscriptions

    def _remember(self, subscription: Subscription) -> None:
        cached = self._newest.get(subscription.id)
        if cached is None or cached.revision <= subscription.revision:
            self._newest[subscription.id] = subscription

    def _forget_failure(self, trigger_id: str, query: asyncio.Future[list[Subscription]]) -> None:
        """A failed read is not reused: the next start asks the database again."""
        read = self._startable.get(trigger_id)
        if read is not None and read.query is query and (query.cancelled() or query.exception() is not None):
            del self._startable[trigger_id]
