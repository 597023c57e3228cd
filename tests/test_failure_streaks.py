"""Dead endpoints in the store, on SQLite and PostgreSQL: failure streaks counted across processes, one
automatic disable, and an operator's enable that clears it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import pytest

from event_triggers.config import Settings
from event_triggers.models import SubscriptionFields
from event_triggers.store import Store

TRIGGER = "idn:identity-created"
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def fields(*, enabled: bool = True) -> SubscriptionFields:
    return SubscriptionFields.model_validate(
        {
            "name": "feed",
            "triggerId": TRIGGER,
            "type": "HTTP",
            "enabled": enabled,
            "httpConfig": {"url": "https://hooks.example.com"},
        }
    )


@pytest.fixture
async def processes(
    make_settings: Callable[..., Settings], database_url: str
) -> AsyncIterator[tuple[Store, Store]]:
    """Two stores on one database, as two worker processes have."""
    settings = make_settings(database_url=database_url)
    first, second = await Store.open(settings), await Store.open(settings)
    await first.add_subscription(subscription_id="s", fields=fields(), signing_secret="whsec_eA==")
    yield first, second
    await first.close()
    await second.close()


async def test_a_streak_counts_each_invocation_once_and_a_success_ends_it(
    processes: tuple[Store, Store],
) -> None:
    store, _ = processes
    first = await store.record_failure(subscription_id="s", invocation_id="i1", error="503", now=NOW)
    assert first is not None and (first.since, first.failures, first.last_failure) == (NOW, 1, "503")
    started = await store.get_subscription("s")
    assert started is not None and started.failingSince == NOW
    assert started.revision == 2, "a streak's start is a new revision, so every copy learns of it"

    again = await store.record_failure(subscription_id="s", invocation_id="i1", error="503", now=NOW)
    assert again is not None and again.failures == 1, "a retried count of one invocation counts once"
    later = NOW + timedelta(minutes=5)
    second = await store.record_failure(subscription_id="s", invocation_id="i2", error="timeout", now=later)
    assert second is not None and (second.since, second.failures, second.last_failure) == (NOW, 2, "timeout")
    unchanged = await store.get_subscription("s")
    assert unchanged is not None and unchanged.revision == 2, "counting on costs no new revision"

    assert await store.end_failure_streak("s")
    ended = await store.get_subscription("s")
    assert ended is not None and ended.failingSince is None and ended.revision == 3
    assert not await store.end_failure_streak("s"), "no streak, nothing written"
    fresh = await store.record_failure(subscription_id="s", invocation_id="i3", error="503", now=later)
    assert fresh is not None and (fresh.since, fresh.failures) == (later, 1)
    assert await store.record_failure(subscription_id="gone", invocation_id="i4", error="x", now=NOW) is None


async def test_workers_counting_at_once_lose_no_count(processes: tuple[Store, Store]) -> None:
    first, second = processes
    await asyncio.gather(
        *(
            (first if number % 2 else second).record_failure(
                subscription_id="s", invocation_id=f"i{number}", error="503", now=NOW
            )
            for number in range(20)
        )
    )
    streak = await first.record_failure(subscription_id="s", invocation_id="last", error="503", now=NOW)
    assert streak is not None and streak.failures == 21


async def test_one_disable_wins_pauses_the_subscription_and_enabling_clears_it(
    processes: tuple[Store, Store],
) -> None:
    first, second = processes
    await first.record_failure(subscription_id="s", invocation_id="i1", error="410 Gone", now=NOW)
    outcomes = await asyncio.gather(
        first.disable_subscription(subscription_id="s", reason="answered 410 Gone", now=NOW),
        second.disable_subscription(subscription_id="s", reason="answered 410 Gone", now=NOW),
    )
    [disabled] = [item for item in outcomes if item is not None]
    assert (disabled.enabled, disabled.paused) == (False, True)
    assert (disabled.disabledReason, disabled.disabledAt) == ("answered 410 Gone", NOW)
    assert await first.startable_revisions(trigger_id=TRIGGER) == {"s": disabled.revision}
    assert [item.id for item in await first.list_subscriptions(startable_only=True)] == ["s"]
    assert await first.list_subscriptions(enabled_only=True) == []

    retried = await first.record_failure(subscription_id="s", invocation_id="i1", error="410 Gone", now=NOW)
    assert retried is not None and retried.disabled_here, "the disabling invocation knows it on a retry"
    other = await first.record_failure(subscription_id="s", invocation_id="i2", error="503", now=NOW)
    assert other is not None and (other.enabled, other.failures, other.disabled_here) == (False, 1, False)

    renamed = await second.replace_subscription(subscription_id="s", fields=fields(enabled=False))
    assert renamed.paused, "an edit that leaves it disabled keeps it paused"
    enabled = await second.replace_subscription(subscription_id="s", fields=fields())
    assert (enabled.enabled, enabled.disabledReason, enabled.disabledAt) == (True, None, None)
    assert enabled.failingSince is None
    counted = await first.record_failure(subscription_id="s", invocation_id="i3", error="503", now=NOW)
    assert counted is not None and counted.failures == 1, "enabled again: the count starts afresh"


async def test_an_operators_disable_starts_nothing(processes: tuple[Store, Store]) -> None:
    store, _ = processes
    manual = await store.replace_subscription(subscription_id="s", fields=fields(enabled=False))
    assert (manual.enabled, manual.paused) == (False, False)
    assert await store.startable_revisions(trigger_id=TRIGGER) == {}
    assert await store.disable_subscription(subscription_id="s", reason="dead", now=NOW) is None
