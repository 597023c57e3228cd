"""How a delivery attempt ends when it does not succeed, shared by every destination's activity.

Retryable failures carry their own next delay (the request's retry schedule, or the receiver's
``Retry-After`` clamped to it), and become final once the next attempt would start after the delivery
window: local activities do not enforce ``schedule_to_close_timeout`` between attempts, so the activity
does. Each failure carries an ``AttemptReport`` (status code, response excerpt) for the attempt log.

A receiver that fails is expected, not a bug of ours: such failures are ``BENIGN`` (Temporal logs them at
DEBUG, without a traceback) and ``DeliveryFailureLog`` says each in one line. Any other exception is ours,
and keeps Temporal's warning with its traceback.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio.exceptions import ApplicationError, ApplicationErrorCategory
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

from event_triggers.config import Settings
from event_triggers.invocation_models import (
    DELIVERY_WINDOW_CLOSED,
    RATE_LIMITED,
    AttemptReport,
    DeliveryRequest,
    RetrySchedule,
)

logger = logging.getLogger(__name__)
EXPECTED = ApplicationErrorCategory.BENIGN
"""The category of every failure a receiver causes."""


def final_failure(message: str, *, error_type: str, status_code: int | None = None) -> ApplicationError:
    return ApplicationError(
        message,
        AttemptReport(status_code=status_code),
        type=error_type,
        non_retryable=True,
        category=EXPECTED,
    )


def retryable_failure(
    message: str,
    *,
    error_type: str,
    settings: Settings,
    request: DeliveryRequest,
    retry_after: timedelta | None = None,
    status_code: int | None = None,
    response: str | None = None,
) -> ApplicationError:
    """Try again after the receiver's ``retry_after`` (clamped) or the schedule's next delay, unless the
    delivery window closes first. ``status_code`` and ``response`` (the receiver's answer) go into the
    attempt log."""
    schedule = request.retry or RetrySchedule.from_settings(settings)
    delay = schedule.clamp(retry_after) if retry_after is not None else schedule.next_delay(request.attempt)
    report = AttemptReport(status_code=status_code, response=response)
    if request.retry_until is not None and datetime.now(UTC) + delay >= request.retry_until:
        return ApplicationError(
            f"{message}; no time left for another attempt",
            report,
            type=DELIVERY_WINDOW_CLOSED,
            non_retryable=True,
            category=EXPECTED,
        )
    return ApplicationError(message, report, type=error_type, next_retry_delay=delay, category=EXPECTED)


def describe_failed_attempt(request: DeliveryRequest, failure: ApplicationError) -> str:
    """One line: which invocation and subscription, which attempt, what happened, what comes next."""
    if failure.non_retryable or failure.next_retry_delay is None:
        then = "no further attempt"
    else:
        then = f"next attempt in {failure.next_retry_delay.total_seconds():.1f} s"
    return (
        f"invocation {request.invocation_id} subscription {request.subscription_id} "
        f"attempt {request.attempt}: {failure.message} ({then})"
    )


class _LogFailedDeliveries(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        try:
            return await super().execute_activity(input)
        except ApplicationError as failure:
            request = next((arg for arg in input.args if isinstance(arg, DeliveryRequest)), None)
            if request is not None and failure.category is EXPECTED and failure.type != RATE_LIMITED:
                logger.warning("%s", describe_failed_attempt(request, failure))
            raise


class DeliveryFailureLog(Interceptor):
    """Logs each failed delivery attempt in one line (invocation, subscription, attempt, outcome)."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _LogFailedDeliveries(next)
