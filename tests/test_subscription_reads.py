"""The one subscription reader: every start sees the latest revisions, on any replica; copies are reused
only while their revision is current enough."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from event_triggers.config import Settings
from event_triggers.destinations.http import HTTP
from event_triggers.models import SubscriptionFields
from event_triggers.store import Store
from event_triggers.subscription_reads import SubscriptionReads

TRIGGER = "idn:identity-created"


def fields(name: str, *, url: str = "https://hooks.example.com", enabled: bool = True) -> SubscriptionFields:
    return SubscriptionFields.model_validate(
        {"name": name, "triggerId": TRIGGER, "type": "HTTP", "enabled": enabled, "httpConfig": {"url": url}}
    )


class CountingStore(Store):
    """A real store that counts the full subscription reads (the revision reads are not counted)."""

    full_reads = 0

    async def list_subscriptions(self, **kwargs: Any) -> list:  # type: ignore[override]
        self.full_reads += 1
        return await super().list_subscriptions(**kwargs)

    async def get_subscription(self, subscription_id: str) -> Any:
        self.full_reads += 1
        return await super().get_subscription(subscription_id)


@pytest.fixture
async def replicas(settings: Settings) -> AsyncIterator[tuple[CountingStore, Store]]:
    """This process's store and another replica's, on the same database."""
    here, other = await CountingStore.open(settings), await Store.open(settings)
    yield here, other
    await here.close()
    await other.close()


async def urls(reads: SubscriptionReads) -> dict[str, str]:
    subscriptions = await reads.startable_for_trigger(TRIGGER)
    return {item.name: HTTP.config(item).url for item in subscriptions}


async def test_every_start_sees_another_replicas_last_edit(replicas: tuple[CountingStore, Store]) -> None:
    here, other = replicas
    reads = SubscriptionReads(here)
    assert await urls(reads) == {}
    await other.add_subscription(subscription_id="a", fields=fields("a"), signing_secret="whsec_eA==")
    assert await urls(reads) == {"a": "https://hooks.example.com"}, "a new subscription, at once"

    await other.replace_subscription(subscription_id="a", fields=fields("a", url="https://new.example.com"))
    assert await urls(reads) == {"a": "https://new.example.com"}, "an edit, at once"

    reads_before = here.full_reads
    assert await urls(reads) == {"a": "https://new.example.com"}
    assert here.full_reads == reads_before, "unchanged revisions: the decrypted copies are reused"

    await other.replace_subscription(subscription_id="a", fields=fields("a", enabled=False))
    assert await urls(reads) == {}, "a disable, at once"
    await other.add_subscription(subscription_id="b", fields=fields("b"), signing_secret="whsec_eA==")
    await other.delete_subscription("b")
    assert await urls(reads) == {}, "a delete, at once"


async def test_concurrent_starts_share_one_full_read(replicas: tuple[CountingStore, Store]) -> None:
    here, other = replicas
    await other.add_subscription(subscription_id="a", fields=fields("a"), signing_secret="whsec_eA==")
    reads = SubscriptionReads(here)
    results = await asyncio.gather(*(reads.startable_for_trigger(TRIGGER) for _ in range(20)))
    assert [[item.id for item in result] for result in results] == [["a"]] * 20
    assert here.full_reads == 1


async def test_a_delivery_never_uses_a_copy_older_than_its_revision(
    replicas: tuple[CountingStore, Store],
) -> None:
    here, other = replicas
    await other.add_subscription(subscription_id="a", fields=fields("a"), signing_secret="whsec_eA==")
    reads = SubscriptionReads(here)
    [started] = await reads.startable_for_trigger(TRIGGER)
    assert started.revision == 1
    full_reads = here.full_reads
    copy = await reads.for_delivery("a", revision=1, fresh=False)
    assert copy is started and here.full_reads == full_reads, "the fan-out's copy serves the first attempt"

    edited = await other.replace_subscription(
        subscription_id="a", fields=fields("a", url="https://new.example.com")
    )
    assert edited.revision == 2
    newer = await reads.for_delivery("a", revision=2, fresh=False)
    assert newer is not None and newer.revision == 2
    assert HTTP.config(newer).url == "https://new.example.com", "a newer required revision reads the store"

    await other.rotate_signing_secret(subscription_id="a", new_secret="whsec_bmV3", grace=timedelta(0))
    retry = await reads.for_delivery("a", revision=1, fresh=True)
    assert retry is not None and retry.revision == 3, "a retry reads the newest revision"
    await other.delete_subscription("a")
    assert await reads.for_delivery("a", revision=1, fresh=True) is None


class GatedRevisionsStore(Store):
    """A real store whose revision reads are counted, held before they query while ``gate`` is clear,
    and fail while ``unavailable`` is set."""

    revision_reads = 0
    unavailable = False
    gate: asyncio.Event
    held: asyncio.Event

    async def startable_revisions(self, *, trigger_id: str) -> dict[str, int]:
        self.revision_reads += 1
        self.held.set()
        await self.gate.wait()
        if self.unavailable:
            raise ConnectionError("database unavailable")
        return await super().startable_revisions(trigger_id=trigger_id)


@pytest.fixture
async def gated(settings: Settings) -> AsyncIterator[GatedRevisionsStore]:
    store = await GatedRevisionsStore.open(settings)
    store.gate, store.held = asyncio.Event(), asyncio.Event()
    store.gate.set()
    yield store
    await store.close()


async def test_a_burst_of_starts_shares_revision_reads(
    gated: GatedRevisionsStore, settings: Settings
) -> None:
    other = await Store.open(settings)
    await other.add_subscription(subscription_id="a", fields=fields("a"), signing_secret="whsec_eA==")
    await other.close()
    reads = SubscriptionReads(gated)
    results = await asyncio.gather(*(reads.startable_for_trigger(TRIGGER) for _ in range(50)))
    assert [[item.id for item in result] for result in results] == [["a"]] * 50
    assert gated.revision_reads <= 2, "the first call's query, then one for every call that arrived meanwhile"


async def test_a_start_never_shares_a_revision_read_that_began_before_it(
    gated: GatedRevisionsStore, settings: Settings
) -> None:
    other = await Store.open(settings)
    await other.add_subscription(subscription_id="a", fields=fields("a"), signing_secret="whsec_eA==")
    reads = SubscriptionReads(gated)
    gated.gate.clear()
    before_edit = asyncio.create_task(urls(reads))
    await gated.held.wait()  # its revision read is under way
    await other.replace_subscription(subscription_id="a", fields=fields("a", url="https://new.example.com"))
    after_edit = asyncio.create_task(urls(reads))
    await asyncio.sleep(0.05)
    gated.gate.set()
    assert await after_edit == {"a": "https://new.example.com"}, "a start after an edit's answer sees it"
    assert await before_edit in ({"a": "https://hooks.example.com"}, {"a": "https://new.example.com"})
    assert gated.revision_reads == 2
    await other.close()


async def test_a_failed_revision_read_reaches_its_callers_and_the_next_call_asks_again(
    gated: GatedRevisionsStore,
) -> None:
    reads = SubscriptionReads(gated)
    gated.unavailable = True
    failed = await asyncio.gather(
        *(reads.startable_for_trigger(TRIGGER) for _ in range(5)), return_exceptions=True
    )
    assert [str(error) for error in failed] == ["database unavailable"] * 5
    gated.unavailable = False
    assert await reads.startable_for_trigger(TRIGGER) == []
