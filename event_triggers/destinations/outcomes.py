"""How a delivery attempt ends when it does not succeed, shared by every destination's activity.

Retryable failures carry their own next delay (the request's retry schedule, or the receiver's
``Retry-After`` clamped to it), and become final once the next attempt would start after the delivery
window: local activities do not enforce ``schedule_to_close_timeout`` between attempts, so the activity
does. Each failure carries an ``AttemptReport`` (status code, response excerpt) for the attempt log.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from temporalio.exceptions import ApplicationError

from event_triggers.config import Settings
from event_triggers.invocation_models import (
    DELIVERY_WINDOW_CLOSED,
    AttemptReport,
    DeliveryRequest,
    RetrySchedule,
)


def final_failure(message: str, *, error_type: str, status_code: int | None = None) -> ApplicationError:
    return ApplicationError(
        message, AttemptReport(status_code=status_code), type=error_type, non_retryable=True
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
        )
    return ApplicationError(message, report, type=error_type, next_retry_delay=delay)
