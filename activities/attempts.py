"""Every delivery attempt timed in one place, whatever its destination.

``AttemptTimingInterceptor`` wraps each activity the worker runs: it adds when the attempt started and
how long it took to the attempt's ``AttemptReport`` (the result's ``report``, or the failure's details),
next to what the destination reported (status code, response excerpt). The workflow records the report
in the invocation's attempt log (``workflows.invocation``). An exception that is not an
``ApplicationError`` becomes one of the same type and retryability, so it carries its report too.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from temporalio.exceptions import ApplicationError
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

from event_triggers.invocation_models import AttemptReport, DeliveryResult


def _destination_report(failure: ApplicationError) -> AttemptReport:
    return next((item for item in failure.details if isinstance(item, AttemptReport)), AttemptReport())


class AttemptTimingInterceptor(Interceptor):
    """Worker interceptor: times each delivery attempt into its ``AttemptReport``."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _TimedAttempt(next)


class _TimedAttempt(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        started = datetime.now(UTC)
        began = time.perf_counter()

        def timed(report: AttemptReport) -> AttemptReport:
            duration_ms = round((time.perf_counter() - began) * 1000)
            return report.model_copy(update={"started": started, "duration_ms": duration_ms})

        try:
            result = await super().execute_activity(input)
        except ApplicationError as failure:
            raise ApplicationError(
                failure.message,
                timed(_destination_report(failure)),
                type=failure.type,
                non_retryable=failure.non_retryable,
                next_retry_delay=failure.next_retry_delay,
                category=failure.category,
            ) from None
        except Exception as exc:
            raise ApplicationError(
                f"{type(exc).__name__}: {exc}", timed(AttemptReport()), type=type(exc).__name__
            ) from exc
        if isinstance(result, DeliveryResult):
            return result.model_copy(update={"report": timed(AttemptReport(status_code=result.status_code))})
        return result
