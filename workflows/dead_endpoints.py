"""Dead endpoints inside ``InvocationWorkflow``: count a failed invocation, wait while paused.

Kept apart from the delivery loop. Both parts run only in invocations started with a revision or whose
history carries the ``auto-disable`` patch marker, so histories recorded before them replay unchanged.
"""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError, FailureError

from workflows.revisions import runs_with

with workflow.unsafe.imports_passed_through():
    from event_triggers.invocation_models import (
        PAUSED_REASON,
        RECORD_FAILURE_ACTIVITY,
        SUBSCRIBER_GONE,
        SUBSCRIPTION_DELETED,
        SUBSCRIPTION_DISABLED,
        SUBSCRIPTION_PAUSED,
        FailedInvocation,
        InvocationRequest,
        InvocationType,
    )

AUTO_DISABLE_PATCH = "auto-disable"
"""Marks histories (of requests without a revision) that count failed invocations toward auto-disable
and wait while paused."""
PAUSE_CHECK_INTERVAL = timedelta(hours=1)
"""A paused invocation looks again this often, in case the ``resume`` signal of an enable missed it."""
COUNT_TIMEOUT = timedelta(minutes=1)
"""How long counting a failure may take (retried); then the invocation ends without being counted."""
PAUSE_ENDED_MESSAGE = "subscription disabled"
_NOT_THE_SUBSCRIBER = frozenset({SUBSCRIPTION_DELETED, SUBSCRIPTION_DISABLED, SUBSCRIPTION_PAUSED})
"""Failures of our own making, which say nothing about the subscriber."""


def _failure_type(failure: BaseException | None) -> str | None:
    return failure.type if isinstance(failure, ApplicationError) else None


async def count_failure(request: InvocationRequest, reason: str, failure: BaseException | None) -> None:
    """Count a failed or timed-out real-time invocation toward its subscription's automatic disable: a
    local activity, so only failures cost a store write. ``failure`` is the delivery's final failure
    (None for a callback that never came); our own (subscription deleted or disabled) are not counted."""
    kind = _failure_type(failure)
    if request.invocation_type is not InvocationType.REAL_TIME or kind in _NOT_THE_SUBSCRIBER:
        return
    if not runs_with(request, AUTO_DISABLE_PATCH):
        return
    failed = FailedInvocation(
        invocation_id=request.invocation_id,
        trigger_id=request.trigger_id,
        subscription_id=request.subscription_id,
        error=reason,
        gone=kind == SUBSCRIBER_GONE,
    )
    try:
        await workflow.execute_local_activity(
            RECORD_FAILURE_ACTIVITY, failed, schedule_to_close_timeout=COUNT_TIMEOUT
        )
    except FailureError as error:  # the store stayed unreachable: the outcome still stands
        workflow.logger.warning("failure of invocation %s not counted: %s", request.invocation_id, error)


class PauseGate:
    """Holds deliveries of a subscription that was disabled automatically, until an operator enables it
    (the ``resume`` signal) or the delivery window closes ("subscription disabled")."""

    def __init__(self) -> None:
        self.resumes = 0
        """How many ``resume`` signals arrived; an attempt notes it, so a signal during it is not lost."""

    @staticmethod
    def applies(failure: BaseException, request: InvocationRequest) -> bool:
        """The delivery was refused because the subscription is paused (and this invocation may wait)."""
        return _failure_type(failure) == SUBSCRIPTION_PAUSED and runs_with(request, AUTO_DISABLE_PATCH)

    def resume(self) -> None:
        self.resumes += 1

    @staticmethod
    def next_check(until: datetime) -> timedelta:
        """When a paused delivery looks again at the latest."""
        return max(min(PAUSE_CHECK_INTERVAL, until - workflow.now()), timedelta(0))

    async def wait(self, reason: str, *, seen: int, until: datetime) -> None:
        """Wait for an enable (a ``resume`` signal after the ``seen``-th) or the next check; raise
        "subscription disabled" once the window has closed. The memo says why while it waits."""
        if workflow.now() < until:
            workflow.upsert_memo({PAUSED_REASON: reason})
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(lambda: self.resumes > seen, timeout=self.next_check(until))
            workflow.upsert_memo({PAUSED_REASON: None})
        if workflow.now() >= until:
            raise ApplicationError(PAUSE_ENDED_MESSAGE, type=SUBSCRIPTION_DISABLED, non_retryable=True)
