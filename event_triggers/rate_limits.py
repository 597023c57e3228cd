"""Per-subscription rate limits (``maxDeliveriesPerSecond``), shared by every worker process.

Two rules, each one atomic statement on the subscription's row in the store (``Store``):

- **Queue.** Each delivery attempt takes the next free slot, ``1/limit`` after the previous one (GCRA
  without a burst allowance). A slot now: go on. A later slot: the attempt ends at once with
  ``RATE_LIMITED`` and the delay, and the workflow sleeps on a durable timer (no worker slot held)
  before starting it again, holding the slot. A slot after the delivery window: the window has closed,
  with its usual outcome (TIMED_OUT for a REQUEST_RESPONSE, FAILED for a FIRE_AND_FORGET) and without
  taking the slot.
- **Starts.** Just before sending, an attempt records its start if the starts so far conform to
  ``limit`` per second with a tolerance (GCRA on starts), else it waits the rest the same way. So a
  timer that fires late or a slow worker never bunches deliveries beyond the promise, whichever workers
  run them: any 5 s window holds at most the rate plus one second's worth (``6 x limit``; for a limit
  under 1/s, one delivery per ``1/limit`` seconds). Half of that second's worth is the tolerance, which
  absorbs a late slot without holding back the slots after it; the other half is margin for the time
  between a start and its arrival at the receiver.

A wait of up to ``INLINE_WAIT`` is slept in the activity instead (once per rule): a Temporal timer round
trip takes longer than that, and the worker slot is held no longer than by a quick HTTP answer.

Subscriptions without a limit never get here: they cost nothing.
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

from temporalio.exceptions import ApplicationError

from event_triggers.destinations.outcomes import EXPECTED
from event_triggers.invocation_models import (
    DELIVERY_WINDOW_CLOSED,
    RATE_LIMITED,
    AttemptReport,
    DeliveryRequest,
)
from event_triggers.store import Store

INLINE_WAIT = 0.1
"""A wait up to this long (s) is slept in the activity, once: a timer round trip would take longer."""


class DeliveryRateLimiter:
    """One per worker, on the store every worker shares."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def admit(self, request: DeliveryRequest, *, limit: float) -> None:
        """Return when the attempt may send now; else raise ``RATE_LIMITED`` (wait) or the window's end."""
        interval = 1 / limit
        latest = request.retry_until.timestamp() if request.retry_until is not None else None
        if not request.holds_rate_slot:
            now = time.time()
            slot = await self._store.reserve_delivery_slot(
                subscription_id=request.subscription_id, now=now, interval=interval, latest=latest
            )
            if slot is None:
                raise _window_closed(limit)
            await _wait(slot - now, limit, inline=True)
        for inline in (True, False):
            now = time.time()
            rest = await self._store.claim_delivery_start(
                subscription_id=request.subscription_id,
                now=now,
                interval=interval,
                burst=tolerance(interval),
            )
            if rest <= 0:
                return
            if latest is not None and now + rest >= latest:
                raise _window_closed(limit)
            await _wait(rest, limit, inline=inline)


def tolerance(interval: float) -> float:
    """How far starts may run ahead of one per ``interval``: half of (one second less one interval)."""
    return max(0.0, 1 - interval) / 2


async def _wait(seconds: float, limit: float, *, inline: bool) -> None:
    """Sleep a short wait here (when ``inline``); end the attempt with a longer one, for a timer."""
    if seconds <= 0:
        return
    if inline and seconds <= INLINE_WAIT:
        await asyncio.sleep(seconds)
        return
    raise ApplicationError(
        f"waiting {seconds:.3f} s for a delivery slot (maxDeliveriesPerSecond {limit:g})",
        AttemptReport(),
        type=RATE_LIMITED,
        next_retry_delay=timedelta(seconds=seconds),
        category=EXPECTED,
    )


def _window_closed(limit: float) -> ApplicationError:
    return ApplicationError(
        f"no delivery slot before the delivery window closes (maxDeliveriesPerSecond {limit:g}: "
        "the deliveries queued ahead take longer)",
        AttemptReport(),
        type=DELIVERY_WINDOW_CLOSED,
        non_retryable=True,
        category=EXPECTED,
    )
