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

with workflow.unsafe.imports_passed_through():
    from event_triggers.invocation_models import (
        DELIVERY_WINDOW_CLOSED,
        UPDATE_COMPLETE,
        WORKFLOW_TYPE,
        Completion,
        DeliveryRequest,
        DeliveryResult,
        InvocationDetail,
        InvocationRequest,
        InvocationStatus,
        RejectionReason,
    )
    from event_triggers.models import HttpDispatchMode, SubscriptionType, TriggerType
    from event_triggers.temporal import INVOCATION_STATUS

DELIVERY_ACTIVITY = "deliver_http"
EVENTBRIDGE_ACTIVITY = "put_eventbridge_event"
TIMED_OUT_MESSAGE = "invocation timed out"
START_TO_CLOSE_MARGIN = timedelta(seconds=5)
"""Room above the HTTP timeout, so the activity reports the subscriber's timeout itself."""


def _failure_reason(error: FailureError) -> str:
    """What the subscriber did, not Temporal's wrapping (a regular activity's ``ActivityError``)."""
    if isinstance(error, ActivityError) and isinstance(error.cause, FailureError):
        error = error.cause
    return error.message


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

    @workflow.run
    async def run(self, request: InvocationRequest) -> InvocationDetail:
        try:
            delivered = await self._deliver(request)
        except FailureError as error:
            if request.trigger_kind is TriggerType.REQUEST_RESPONSE and _window_closed(error):
                return self._finish(InvocationStatus.TIMED_OUT, error=TIMED_OUT_MESSAGE)
            if self._completion is None:
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
                return self._finish(InvocationStatus.TIMED_OUT, error=TIMED_OUT_MESSAGE)
        assert self._completion is not None
        if self._completion.error is not None:
            return self._finish(InvocationStatus.FAILED, error=self._completion.error)
        return self._finish(InvocationStatus.COMPLETED, output=self._completion.output)

    @workflow.update(name=UPDATE_COMPLETE)
    async def complete(self, completion: Completion) -> None:
        """The subscriber's answer (output or error), sent by the API after it checked secret and schema."""
        self._completion = completion

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
        retry = request.retry
        window = (
            retry.fire_and_forget_window
            if request.trigger_kind is TriggerType.FIRE_AND_FORGET
            else self._remaining()
        )
        delivery = DeliveryRequest(
            invocation_id=request.invocation_id,
            trigger_id=request.trigger_id,
            trigger_kind=request.trigger_kind,
            subscription_id=request.subscription_id,
            response_mode=request.response_mode,
            callback_url=request.callback_url,
            input=request.input,
            retry_until=workflow.now() + window,
        )
        retry_policy = RetryPolicy(
            initial_interval=retry.initial_interval,
            backoff_coefficient=retry.backoff,
            maximum_interval=retry.max_interval,
        )
        start_to_close = retry.delivery_timeout + START_TO_CLOSE_MARGIN
        activity, summary = (
            (EVENTBRIDGE_ACTIVITY, f"PutEvents for subscription {request.subscription_name}")
            if request.subscription_type == SubscriptionType.EVENTBRIDGE
            else (DELIVERY_ACTIVITY, f"POST to subscription {request.subscription_name}")
        )
        execute = workflow.execute_local_activity if request.local_delivery else workflow.execute_activity
        result: DeliveryResult = await execute(
            activity,
            delivery,
            result_type=DeliveryResult,
            schedule_to_close_timeout=window,
            start_to_close_timeout=start_to_close,
            retry_policy=retry_policy,
            summary=summary,
        )
        return result

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
