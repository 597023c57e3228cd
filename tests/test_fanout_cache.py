"""The fan-out's subscription reads: shared, briefly reused, reset by this process's own writes."""

from __future__ import annotations

import asyncio

from event_triggers.config import Settings
from event_triggers.invocations.context import EnabledSubscriptionReads
from event_triggers.models import SubscriptionFields
from event_triggers.store import Store
from tests.conftest import wait_until

TRIGGER = "idn:identity-created"


def fields(name: str) -> SubscriptionFields:
    return SubscriptionFields.model_validate(
        {
            "name": name,
            "triggerId": TRIGGER,
            "type": "HTTP",
            "httpConfig": {"url": "https://hooks.example.com"},
        }
    )


async def names(reads: EnabledSubscriptionReads) -> set[str]:
    return {subscription.name for subscription in await reads.read(TRIGGER)}


async def test_own_writes_show_at_once_other_replicas_within_the_ttl(settings: Settings) -> None:
    api_store, other_replica = await Store.open(settings), await Store.open(settings)
    try:
        reads = EnabledSubscriptionReads(api_store, ttl=2.0)
        assert await names(reads) == set()
        await api_store.add_subscription(
            subscription_id="mine", fields=fields("mine"), signing_secret="whsec_eA=="
        )
        assert await names(reads) == {"mine"}, "this process's write resets the cache"

        await other_replica.add_subscription(
            subscription_id="theirs", fields=fields("theirs"), signing_secret="whsec_eA=="
        )
        assert await names(reads) == {"mine"}, "another replica's write is not seen before the TTL"

        async def both_seen() -> bool:
            return await names(reads) == {"mine", "theirs"}

        await wait_until(both_seen, timeout=5)
        await api_store.delete_subscription("mine")
        assert await names(reads) == {"theirs"}
    finally:
        await api_store.close()
        await other_replica.close()


async def test_concurrent_reads_share_one_query(settings: Settings) -> None:
    store = await Store.open(settings)
    queries = 0
    original = store.list_subscriptions

    async def counted(**kwargs: object) -> list:
        nonlocal queries
        queries += 1
        return await original(**kwargs)  # type: ignore[arg-type]

    store.list_subscriptions = counted  # type: ignore[method-assign]
    try:
        reads = EnabledSubscriptionReads(store, ttl=0)
        results = await asyncio.gather(*(reads.read(TRIGGER) for _ in range(20)))
        assert results == [[]] * 20 and queries == 1
    finally:
        await store.close()
