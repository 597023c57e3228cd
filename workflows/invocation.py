"""``InvocationWorkflow``: one event delivered to one subscription, and for REQUEST_RESPONSE its answer.

Deterministic and I/O free: the delivery is an activity, schema validation happens in the API and the
activity. ``InvocationStatus`` (search attribute) and the memo are kept current so the status API and
the Web UI explain an invocation without reading code. A failed or timed-out invocation fails the
workflow with the reason in plain words.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, FailureError, TimeoutType
from temporalio.exceptions import TimeoutError as TemporalTimeoutError

from workflows.dead_endpoints import PauseGate, count_failure
from workflows.revisions import runs_with

with workflow.unsafe.imports_passed_through():
    from event_triggers.invocation_models import (
        DELIVERY_WINDOW_CLOSED,
        MAX_RECORDED_ATTEMPTS,
        QUERY_ATTEMPTS,
        RATE_LIMITED,
        SIGNAL_RESUME,
        UPDATE_COMPLETE,
        WORKFLOW_TYPE,
        AttemptReport,
        Completion,
        DeliveryAttempt,
        DeliveryRequest,
        DeliveryResult,
        InvocationDetail,
        InvocationRequest,
        InvocationStatus,
        RejectionReason,
    )
    from event_triggers.models import HttpDispatchMode, TriggerType
    from event_triggers.temporal import INVOCATION_STATUS

TIMED_OUT_MESSAGE = "invocation timed out"
START_TO_CLOSE_MARGIN = timedelta(seconds=5)
"""Room above the HTTP timeout, so the activity reports the subscriber's timeout itself."""
ATTEMPT_LOG_PATCH = "attempt-log"
"""Marks histories (of requests without a revision) whose deliveries run one activity per attempt (the
workflow retries, and logs each)."""
RATE_LIMIT_PATCH = "rate-limit"
"""Marks histories (of requests without a revision) where an attempt held back by a rate limit waited
and started again, unrecorded."""
ONE_ATTEMPT = RetryPolicy(maximum_attempts=1)


def _cause(error: FailureError) -> FailureError:
    """The activity's failure, not Temporal's wrapping (a regular activity's ``ActivityError``)."""
    if isinstance(error, ActivityError) and isinstance(error.cause, FailureError):
        return error.cause
    return error


def _failure_reason(error: FailureError) -> str:
    """What the subscriber did."""
    return _cause(error).message


def _retryable(error: FailureError) -> bool:
    """Worth another attempt: anything but a final ``ApplicationError`` (timeouts, crashes included)."""
    failure = _cause(error)
    return not (isinstance(failure, ApplicationError) and failure.non_retryable)


def _rate_limit_wait(error: FailureError) -> timedelta | None:
    """How long the subscription's rate limit holds the attempt back; None for any other failure."""
    failure = _cause(error)
    if isinstance(failure, ApplicationError) and failure.type == RATE_LIMITED:
        return failure.next_retry_delay
    return None


def _milliseconds(duration: timedelta) -> int:
    return round(duration.total_seconds() * 1000)


def _attempt_report(error: FailureError) -> AttemptReport:
    """What the worker reported about a failed attempt (nothing for a timeout Temporal enforced)."""
    failure = _cause(error)
    details = failure.details if isinstance(failure, ApplicationError) else ()
    return AttemptReport.model_validate(details[0]) if details else AttemptReport()


def _attempt_error(error: FailureError) -> str:
    """The failure in plain words, plus the receiver's response when the message does not quote it."""
    response = _attempt_report(error).response
    reason = _failure_reason(error)
    return f"{reason}: {response}" if response else reason


def _window_closed(error: FailureError) -> bool:
    """The delivery ran out of time: the activity's own verdict, or Temporal's schedule-to-close timeout.

    Local activities raise the failure itself, regular ones wrap it in an ``ActivityError``.
    """
    failure = error.cause if isinstance(error, ActivityError) and error.cause is not None else error
    if isinstance(failure, ApplicationError):
        return failure.type == DELIVERY_WINDOW_CLOSED
    return isinstance(failure, TemporalTimeoutError) and failure.type is TimeoutType.SCHEDULE_TO_CLOSE


@workflow.defn(name=WORKFLOW_TYPE, sandboxed=False)
class InvocationWorkflow:
    @workflow.init
    def __init__(self, request: InvocationRequest) -> None:
        self._request = request
        self._status = InvocationStatus.PENDING
        self._completion: Completion | None = None
        self._deadline: datetime = workflow.now() + request.response_deadline
        self._attempts: list[DeliveryAttempt] = []
        self._attempt_count = 0
        self._pause = PauseGate()

    @workflow.run
    async def run(self, request: InvocationRequest) -> InvocationDetail:
        try:
            delivered = await self._deliver(request)
        except FailureError as error:
            if request.trigger_kind is TriggerType.REQUEST_RESPONSE and _window_closed(error):
                await count_failure(request, _failure_reason(error), _cause(error))
                return self._finish(InvocationStatus.TIMED_OUT, error=TIMED_OUT_MESSAGE)
            if self._completion is None:
                await count_failure(request, _failure_reason(error), _cause(error))
                return self._finish(InvocationStatus.FAILED, error=_failure_reason(error))
            delivered = None
        if request.trigger_kind is TriggerType.FIRE_AND_FORGET:
            return self._finish(InvocationStatus.COMPLETED)
        if delivered is not None and delivered.answer is not None:
            return self._finish(InvocationStatus.COMPLETED, output=delivered.answer)
        if self._completion is None:
            self._set_status(InvocationStatus.AWAITING_RESPONSE)
            try:
                await workflow.wait_condition(lambda: self._completion is not None, timeout=self._remaining())
            except TimeoutError:
                await count_failure(request, "the subscriber accepted but never answered", None)
                return self._finish(InvocationStatus.TIMED_OUT, error=TIMED_OUT_MESSAGE)
        assert self._completion is not None
        if self._completion.error is not None:
            return self._finish(InvocationStatus.FAILED, error=self._completion.error)
        return self._finish(InvocationStatus.COMPLETED, output=self._completion.output)

    @workflow.update(name=UPDATE_COMPLETE)
    async def complete(self, completion: Completion) -> None:
        """The subscriber's answer (output or error), sent by the API after it checked secret and schema."""
        self._completion = completion

    @workflow.signal(name=SIGNAL_RESUME)
    def resume(self) -> None:
        """The subscription was enabled again: a paused delivery tries again now."""
        self._pause.resume()

    @complete.validator
    def _accept_completion(self, completion: Completion) -> None:
        """Reject without touching history: a second answer, a late one, or one nobody waits for."""
        if self._completion is not None or self._status.finished:
            raise ApplicationError("invocation is already completed", type=RejectionReason.ALREADY_COMPLETED)
        if workflow.now() >= self._deadline:
            raise ApplicationError("invocation deadline has passed", type=RejectionReason.DEADLINE_PASSED)
        if (
            self._request.trigger_kind is TriggerType.FIRE_AND_FORGET
            or self._request.response_mode is HttpDispatchMode.SYNC
        ):
            raise ApplicationError(
                "this invocation is not completed by a callback", type=RejectionReason.NOT_AWAITING_RESPONSE
            )

    def _remaining(self) -> timedelta:
        return max(self._deadline - workflow.now(), timedelta(milliseconds=1))

    async def _deliver(self, request: InvocationRequest) -> DeliveryResult:
        """Deliver, one activity per attempt, each recorded in the attempt log; the workflow retries.

        Histories recorded before the attempt log (neither a revision nor the ``ATTEMPT_LOG_PATCH``
        marker) replay as they ran: one activity that Temporal retried."""
        retry = request.retry
        window = (
            retry.fire_and_forget_window
            if request.trigger_kind is TriggerType.FIRE_AND_FORGET
            else self._remaining()
        )
        retry_until = workflow.now() + window
        delivery = DeliveryRequest(
            invocation_id=request.invocation_id,
            trigger_id=request.trigger_id,
            trigger_kind=request.trigger_kind,
            subscription_id=request.subscription_id,
            subscription_revision=request.subscription_revision,
            response_mode=request.response_mode,
            callback_url=request.callback_url,
            input=request.input,
            invocation_type=request.invocation_type,
            retry=retry,
            retry_until=retry_until,
        )
        if not runs_with(request, ATTEMPT_LOG_PATCH):
            return await self._attempt(request, delivery, window=window, retry_policy=retry.retry_policy())
        holds_rate_slot = False
        while True:
            attempt = self._attempt_count + 1
            scheduled = workflow.now()
            resumes = self._pause.resumes
            try:
                result = await self._attempt(
                    request,
                    delivery.model_copy(update={"attempt": attempt, "holds_rate_slot": holds_rate_slot}),
                    window=retry_until - scheduled,
                    retry_policy=ONE_ATTEMPT,
                )
            except FailureError as error:
                wait = _rate_limit_wait(error)
                holds_rate_slot = wait is not None and runs_with(request, RATE_LIMIT_PATCH)
                if wait is not None and holds_rate_slot:  # not an attempt yet: wait for its slot
                    await workflow.sleep(wait)
                    continue
                if PauseGate.applies(_cause(error), request):  # auto-disabled: wait for an enable, retry
                    self._record_attempt(
                        attempt,
                        _attempt_report(error),
                        scheduled=scheduled,
                        error=_attempt_error(error),
                        retry_in=PauseGate.next_check(retry_until) or None,
                    )
                    await self._pause.wait(_failure_reason(error), seen=resumes, until=retry_until)
                    continue
                delay = self._next_delay(error, attempt=attempt, retry_until=retry_until)
                if delay is None and _retryable(error):  # the window closed on a failure nobody judged
                    error = ApplicationError(
                        f"{_failure_reason(error)}; no time left for another attempt",
                        _attempt_report(error),
                        type=DELIVERY_WINDOW_CLOSED,
                        non_retryable=True,
                    )
                self._record_attempt(
                    attempt,
                    _attempt_report(error),
                    scheduled=scheduled,
                    error=_attempt_error(error),
                    retry_in=delay,
                )
                if delay is None:
                    raise error from None
                await workflow.sleep(delay)
                continue
            self._record_attempt(
                attempt, result.report or AttemptReport(), scheduled=scheduled, error=None, retry_in=None
            )
            return result

    async def _attempt(
        self,
        request: InvocationRequest,
        delivery: DeliveryRequest,
        *,
        window: timedelta,
        retry_policy: RetryPolicy,
    ) -> DeliveryResult:
        execute = workflow.execute_local_activity if request.local_delivery else workflow.execute_activity
        result: DeliveryResult = await execute(
            request.delivery_activity,
            delivery,
            result_type=DeliveryResult,
            schedule_to_close_timeout=max(window, timedelta(milliseconds=1)),
            start_to_close_timeout=request.retry.delivery_timeout + START_TO_CLOSE_MARGIN,
            retry_policy=retry_policy,
            summary=request.delivery_summary or None,
        )
        return result

    def _next_delay(self, error: FailureError, *, attempt: int, retry_until: datetime) -> timedelta | None:
        """When to try again: the activity's own delay (backoff with jitter, ``Retry-After``) or the
        schedule's backoff; None when the failure is final or the window closes first."""
        if not _retryable(error):
            return None
        failure = _cause(error)
        delay = failure.next_retry_delay if isinstance(failure, ApplicationError) else None
        if delay is None:
            delay = self._request.retry.backoff_delay(attempt)
        return delay if workflow.now() + delay < retry_until else None

    def _record_attempt(
        self,
        attempt: int,
        report: AttemptReport,
        *,
        scheduled: datetime,
        error: str | None,
        retry_in: timedelta | None,
    ) -> None:
        """Keep the first attempt and the latest ones, up to ``MAX_RECORDED_ATTEMPTS``.

        An attempt that Temporal timed out has no report: it is timed from the workflow's clock."""
        self._attempt_count = attempt
        self._attempts.append(
            DeliveryAttempt(
                attempt=attempt,
                started=report.started or scheduled,
                durationMs=report.duration_ms
                if report.started
                else _milliseconds(workflow.now() - scheduled),
                statusCode=report.status_code,
                error=error,
                nextAttemptAt=None if retry_in is None else workflow.now() + retry_in,
            )
        )
        if len(self._attempts) > MAX_RECORDED_ATTEMPTS:
            del self._attempts[1]

    @workflow.query(name=QUERY_ATTEMPTS)
    def attempts(self) -> list[DeliveryAttempt]:
        """The attempt log, oldest first."""
        return list(self._attempts)

    def _set_status(self, status: InvocationStatus) -> None:
        self._status = status
        workflow.upsert_search_attributes([INVOCATION_STATUS.value_set(status.value)])

    def _finish(
        self, status: InvocationStatus, *, output: dict | None = None, error: str | None = None
    ) -> InvocationDetail:
        """Record the outcome in search attributes and memo; a failure fails the workflow with its reason.

        The workflow's close time is the completion time, so the memo does not repeat it.
        """
        request = self._request
        outcome = InvocationDetail(
            id=request.invocation_id,
            triggerId=request.trigger_id,
            subscriptionId=request.subscription_id,
            subscriptionName=request.subscription_name,
            type=request.invocation_type,
            status=status,
            created=workflow.info().start_time,
            completed=workflow.now(),
            output=output,
            error=error,
        )
        self._set_status(status)
        if output is not None or error is not None:  # a delivered fire-and-forget event has nothing to add
            localized_error = None if error is None else {"locale": "en-US", "message": error}
            workflow.upsert_memo(
                {"completeInvocationInput": {"output": output, "localizedError": localized_error}}
            )
        if status is not InvocationStatus.COMPLETED:
            raise ApplicationError(error or status.value, outcome, type=status.value, non_retryable=True)
        return outcome
