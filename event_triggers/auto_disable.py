"""Dead endpoints: a subscription whose invocations keep failing is disabled, and its events wait.

The rules (docs/operator-loop.md, "Dead endpoints"):

- A failed or timed-out real-time invocation is counted in its subscription's failure streak, in the store
  (``Store.record_failure``: one conditional UPDATE, shared by every worker process). Only failures
  write: a successful delivery ends a streak only when the copy of the subscription it used says one is
  running (``end_failure_streak``), so the happy path costs nothing.
- A streak of at least ``EVENT_TRIGGERS_AUTO_DISABLE_MIN_FAILURES`` invocations spanning at least
  ``EVENT_TRIGGERS_AUTO_DISABLE_AFTER``, or one receiver answering 410 Gone, disables the subscription
  with a reason: it is *paused*. Its events still start invocations, which wait until an operator enables
  it again (``event_triggers.invocations.resume`` signals them) or their window closes.
- The disable is announced as a ``event-triggers:subscription-disabled`` event; subscriptions of that
  trigger are never disabled automatically, so an alert that fails cannot disable itself in a loop.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from event_triggers.config import Settings
from event_triggers.invocation_models import FailedInvocation
from event_triggers.invocations.context import InvocationContext
from event_triggers.store import FailureStreak, Subscription
from event_triggers.subscription_reads import SubscriptionReads

logger = logging.getLogger(__name__)

SUBSCRIPTION_DISABLED_TRIGGER = "event-triggers:subscription-disabled"
GONE_REASON = "its subscriber answered 410 Gone"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def disable_reason(streak: FailureStreak, *, gone: bool, settings: Settings, now: datetime) -> str | None:
    """Why the subscription must be disabled now, or None while it may keep trying."""
    if gone:
        return GONE_REASON
    if (
        streak.failures < settings.auto_disable_min_failures
        or now - streak.since < settings.auto_disable_after
    ):
        return None
    return (
        f"its invocations failed {streak.failures} times in a row since {_iso(streak.since)}, "
        "with no success in between"
    )


async def count_failure(context: InvocationContext, failed: FailedInvocation) -> Subscription | None:
    """Count ``failed`` in its subscription's streak and disable the subscription when the streak (or a
    410) says so, announcing it; returns the subscription it disabled. Safe to retry: an invocation is
    counted once, and the one whose failure disabled the subscription announces it again (same event)."""
    if failed.trigger_id == SUBSCRIPTION_DISABLED_TRIGGER:
        return None
    store, now = context.store, datetime.now(UTC)
    streak = await store.record_failure(
        subscription_id=failed.subscription_id,
        invocation_id=failed.invocation_id,
        error=failed.error,
        now=now,
    )
    if streak is None or not (streak.enabled or streak.disabled_here):
        return None
    if streak.disabled_here:
        disabled = await store.get_subscription(failed.subscription_id)
    else:
        reason = disable_reason(streak, gone=failed.gone, settings=context.settings, now=now)
        if reason is None:
            return None
        disabled = await store.disable_subscription(
            subscription_id=failed.subscription_id, reason=reason, now=now
        )
    if disabled is None or not disabled.paused:
        return None
    logger.warning("subscription %s disabled: %s", disabled.id, disabled.disabledReason)
    await announce(context, disabled, last_error=streak.last_failure)
    return disabled


async def announce(context: InvocationContext, subscription: Subscription, *, last_error: str | None) -> None:
    """Start the ``event-triggers:subscription-disabled`` event of a disable (once per disable: its
    idempotency key names the subscription and the moment)."""
    # Imported here: the fan-out (JSONPath, JSON Patch) would add seconds to every worker's start-up
    # for an event that is rare.
    from event_triggers.invocations.start import start_invocations

    assert subscription.disabledReason is not None and subscription.disabledAt is not None
    payload: dict[str, Any] = {
        "subscriptionId": subscription.id,
        "subscriptionName": subscription.name,
        "triggerId": subscription.triggerId,
        "reason": subscription.disabledReason,
        "lastError": last_error,
        "disabledAt": subscription.disabledAt.isoformat().replace("+00:00", "Z"),
    }
    await start_invocations(
        context=context,
        trigger_id=SUBSCRIPTION_DISABLED_TRIGGER,
        payload=payload,
        content_json={},
        idempotency_key=f"{SUBSCRIPTION_DISABLED_TRIGGER} {subscription.id} {payload['disabledAt']}",
    )


async def end_streak_after_delivery(reads: SubscriptionReads, subscription_id: str) -> None:
    """A delivery succeeded: end the subscription's failure streak if the copy it used shows one (no
    store access otherwise), and refresh that copy so the next success does not try again."""
    cached = reads.cached(subscription_id)
    if cached is None or cached.failingSince is None:
        return
    await reads.store.end_failure_streak(subscription_id)
    await reads.for_delivery(subscription_id, revision=cached.revision, fresh=True)
