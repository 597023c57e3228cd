"""Subscriptions as delivery activities need them: credentials included, read at most once per TTL."""

from __future__ import annotations

import time
from datetime import timedelta

from activities.outcomes import final_failure
from event_triggers.store import Store, Subscription


class SubscriptionReader:
    """Saves a query per delivery; an update, a disable or a rotation is seen within ``ttl``."""

    def __init__(self, store: Store, *, ttl: timedelta) -> None:
        self._store = store
        self._ttl = ttl.total_seconds()
        self._cache: dict[str, tuple[float, Subscription]] = {}

    async def get(self, subscription_id: str) -> Subscription:
        """The subscription; a deleted one fails the delivery for good."""
        now = time.monotonic()
        cached = self._cache.get(subscription_id)
        if cached and cached[0] > now:
            return cached[1]
        subscription = await self._store.get_subscription(subscription_id)
        if subscription is None:
            raise final_failure(
                f"subscription {subscription_id} was deleted", error_type="SubscriptionDeleted"
            )
        self._cache[subscription_id] = (now + self._ttl, subscription)
        return subscription
