"""How a delivery attempt ends when it does not succeed, shared by the HTTP and EventBridge activities.

Retryable failures carry their own next delay (exponential backoff with jitter, or the receiver's
``Retry-After``), and become final once the next attempt would start after the delivery window: local
activities do not enforce ``schedule_to_close_timeout`` between attempts, so the activity does.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from temporalio.exceptions import ApplicationError

from event_triggers.config import Settings
from event_triggers.invocation_models import DELIVERY_WINDOW_CLOSED, AttemptReport, DeliveryRequest

JITTER = 0.2
"""Each retry delay is drawn from +-20 % of the backoff, so receivers that failed together retry apart."""


def final_failure(message: str, *, error_type: str, status_code: int | None = None) -> ApplicationError:
    return ApplicationError(
        message, AttemptReport(status_code=status_code), type=error_type, non_retryable=True
    )


def backoff_delay(settings: Settings, attempt: int) -> timedelta:
    base = settings.retry_initial_interval * (settings.retry_backoff ** (attempt - 1))
    return min(base, settings.retry_max_interval) * random.uniform(1 - JITTER, 1 + JITTER)


def retryable_failure(
    message: str,
    *,
    error_type: str,
    settings: Settings,
    request: DeliveryRequest,
    delay: timedelta | None = None,
    status_code: int | None = None,
    response: str | None = None,
) -> ApplicationError:
    """Try again after ``delay`` (default: the backoff for this attempt), unless the window closes first.

    ``status_code`` and ``response`` (the receiver's answer) go into the attempt log."""
    if delay is None:
        delay = backoff_delay(settings, request.attempt)
    report = AttemptReport(status_code=status_code, response=response)
    if request.retry_until is not None and datetime.now(UTC) + delay >= request.retry_until:
        return ApplicationError(
            f"{message}; no time left for another attempt",
            report,
            type=DELIVERY_WINDOW_CLOSED,
            non_retryable=True,
        )
    return ApplicationError(message, report, type=error_type, next_retry_delay=delay)
