"""One retry schedule: the workflow's RetryPolicy and the activity's delays come from the same values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from event_triggers.destinations.http import retry_after
from event_triggers.invocation_models import RETRY_JITTER, RetrySchedule

SCHEDULE = RetrySchedule(
    initial_interval=timedelta(seconds=5),
    backoff=2.0,
    max_interval=timedelta(seconds=60),
    fire_and_forget_window=timedelta(hours=24),
    delivery_timeout=timedelta(seconds=10),
)


def test_the_retry_policy_is_the_schedule() -> None:
    policy = SCHEDULE.retry_policy()
    assert (policy.initial_interval, policy.backoff_coefficient, policy.maximum_interval) == (
        SCHEDULE.initial_interval,
        SCHEDULE.backoff,
        SCHEDULE.max_interval,
    )


@pytest.mark.parametrize(("attempt", "base"), [(1, 5), (2, 10), (3, 20), (4, 40), (5, 60), (9, 60)])
def test_next_delay_backs_off_to_the_maximum_with_jitter(attempt: int, base: float) -> None:
    for _ in range(50):
        delay = SCHEDULE.next_delay(attempt).total_seconds()
        assert base * (1 - RETRY_JITTER) <= delay <= base * (1 + RETRY_JITTER)


@pytest.mark.parametrize(
    ("asked", "used"),
    [(timedelta(0), 1), (timedelta(seconds=-30), 1), (timedelta(seconds=7), 7), (timedelta(days=1), 60)],
)
def test_retry_after_is_clamped_to_one_second_and_the_maximum_interval(asked: timedelta, used: float) -> None:
    assert SCHEDULE.clamp(asked) == timedelta(seconds=used)


def _answer(retry_after_value: str) -> httpx.Response:
    return httpx.Response(429, headers={"Retry-After": retry_after_value})


def test_retry_after_reads_seconds_and_http_dates() -> None:
    assert retry_after(_answer("120")) == timedelta(seconds=120)
    when = datetime.now(UTC) + timedelta(seconds=90)
    delay = retry_after(_answer(format_datetime(when, usegmt=True)))
    assert delay is not None and timedelta(seconds=85) < delay <= timedelta(seconds=90)
    assert retry_after(_answer("soon")) is None
    assert retry_after(httpx.Response(503)) is None
