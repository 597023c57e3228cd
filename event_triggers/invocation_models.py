"""Models of invocations: the API's wire shapes and what the workflow and its activities exchange.

Workflow inputs carry no secrets: subscriber credentials and the invocation secret are looked up or
derived inside the delivery activity, so they never enter Temporal history.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from enum import IntEnum, StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator
from temporalio.common import RetryPolicy

from event_triggers.config import Settings
from event_triggers.models import HttpDispatchMode, TriggerType, WireModel

WORKFLOW_TYPE = "InvocationWorkflow"
UPDATE_COMPLETE = "complete"
QUERY_ATTEMPTS = "attempts"
SIGNAL_RESUME = "resume"
"""Sent to the running invocations of a subscription an operator enabled again: paused ones deliver now."""
RECORD_FAILURE_ACTIVITY = "record_invocation_failure"
PAUSED_REASON = "pausedReason"
"""Memo key of a paused invocation: why it waits (removed when it delivers or ends)."""
MAX_RECORDED_ATTEMPTS = 100
"""An invocation keeps its first attempt and its latest ones up to this many (a day of retries is ~30)."""


class InvocationStatus(StrEnum):
    PENDING = "PENDING"
    AWAITING_RESPONSE = "AWAITING_RESPONSE"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    TIMED_OUT = "TIMED_OUT"

    @property
    def finished(self) -> bool:
        return self in (InvocationStatus.COMPLETED, InvocationStatus.FAILED, InvocationStatus.TIMED_OUT)


class InvocationType(StrEnum):
    TEST = "TEST"
    REAL_TIME = "REAL_TIME"


DELIVERY_WINDOW_CLOSED = "DeliveryWindowClosed"
"""``ApplicationError.type`` of a delivery that failed and has no time left for another attempt."""
RATE_LIMITED = "RateLimited"
"""``ApplicationError.type`` of an attempt that has not started: the subscription's rate limit gave it a
later slot (``next_retry_delay``). Not an attempt: the workflow waits and starts it again."""
SUBSCRIPTION_PAUSED = "SubscriptionPaused"
"""``ApplicationError.type`` of a delivery refused because its subscription was disabled automatically:
the invocation waits for the subscription to be enabled again."""
SUBSCRIPTION_DISABLED = "SubscriptionDisabled"
SUBSCRIPTION_DELETED = "SubscriptionDeleted"
SUBSCRIBER_GONE = "SubscriberGone"
"""``ApplicationError.type`` of a receiver that said it is gone for good (HTTP 410): disabled at once."""


class RejectionReason(StrEnum):
    """``ApplicationError.type`` of a rejected ``complete`` Update; the API maps each to a status code."""

    ALREADY_COMPLETED = "AlreadyCompleted"
    DEADLINE_PASSED = "DeadlinePassed"
    NOT_AWAITING_RESPONSE = "NotAwaitingResponse"


RETRY_JITTER = 0.2
"""Each retry delay is drawn from +-20 % of the backoff, so receivers that failed together retry apart."""


class RetrySchedule(BaseModel):
    """How failed deliveries are retried: copied from settings into each workflow, and from there into
    each delivery request, so the workflow's ``RetryPolicy`` and the activity's next delay agree."""

    initial_interval: timedelta
    backoff: float
    max_interval: timedelta
    fire_and_forget_window: timedelta
    delivery_timeout: timedelta

    @classmethod
    def from_settings(cls, settings: Settings) -> RetrySchedule:
        """The schedule every invocation starts with (``EVENT_TRIGGERS_RETRY_*``)."""
        return cls(
            initial_interval=settings.retry_initial_interval,
            backoff=settings.retry_backoff,
            max_interval=settings.retry_max_interval,
            fire_and_forget_window=settings.fire_and_forget_retry_window,
            delivery_timeout=settings.delivery_timeout,
        )

    def retry_policy(self) -> RetryPolicy:
        """The workflow's bound on retries; the activity chooses each delay itself (``next_delay``)."""
        return RetryPolicy(
            initial_interval=self.initial_interval,
            backoff_coefficient=self.backoff,
            maximum_interval=self.max_interval,
        )

    def backoff_delay(self, attempt: int) -> timedelta:
        """The delay after failed attempt ``attempt`` (1-based): exponential, capped at the maximum."""
        return min(self.initial_interval * (self.backoff ** (attempt - 1)), self.max_interval)

    def next_delay(self, attempt: int) -> timedelta:
        """``backoff_delay`` with jitter, as the activity asks for it (the workflow cannot draw randoms)."""
        return self.backoff_delay(attempt) * random.uniform(1 - RETRY_JITTER, 1 + RETRY_JITTER)

    def clamp(self, delay: timedelta) -> timedelta:
        """A receiver's ``Retry-After`` within [1 s, the maximum interval]."""
        return min(max(delay, timedelta(seconds=1)), self.max_interval)


_ACTIVITIES_BEFORE_REGISTRY = {"HTTP": "deliver_http", "EVENTBRIDGE": "put_eventbridge_event"}
"""The activity of requests recorded before the destination registry put its name in the request, so
their histories replay unchanged."""


class WorkflowRevision(IntEnum):
    """The ``InvocationWorkflow`` behaviours an invocation was started with, carried in its request: the
    workflow branches on its input, so new histories hold no patch marker (nor the ``TemporalChangeVersion``
    upsert each marker brings, on every invocation's path) and a change keeps running invocations as
    they began. A later behaviour adds the next revision."""

    PATCH_MARKERS = 0
    """Recorded before revisions: the attempt log, rate-limit slots and auto-disable each ask their patch."""
    ATTEMPT_LOG_RATE_LIMIT_AUTO_DISABLE = 1


CURRENT_WORKFLOW_REVISION = max(WorkflowRevision)


class InvocationRequest(BaseModel):
    """Input of one ``InvocationWorkflow``: one event for one subscription."""

    invocation_id: str
    trigger_id: str
    trigger_kind: TriggerType
    subscription_id: str
    subscription_name: str
    subscription_type: str
    subscription_revision: int = 0
    """The subscription's revision the invocation started with; its deliveries use it or a newer one
    (0: recorded before revisions existed)."""
    delivery_activity: str
    """The destination's activity (the registry's answer at start), so the workflow names no type."""
    delivery_summary: str = ""
    """What the Web UI shows for the delivery, e.g. ``POST to subscription hooks``."""
    response_mode: HttpDispatchMode | None
    response_deadline: timedelta
    callback_url: str
    invocation_type: InvocationType
    input: dict[str, Any]
    content_json: dict[str, Any]
    retry: RetrySchedule
    local_delivery: bool = True
    """Run the delivery as a local activity: fewer round trips to Temporal, shorter histories."""
    workflow_revision: WorkflowRevision = WorkflowRevision.PATCH_MARKERS
    """``CURRENT_WORKFLOW_REVISION`` in every request started now."""

    @model_validator(mode="before")
    @classmethod
    def _recorded_before_registry(cls, data: Any) -> Any:
        if isinstance(data, dict) and "delivery_activity" not in data:
            kind = data.get("subscription_type", "HTTP")
            return {**data, "delivery_activity": _ACTIVITIES_BEFORE_REGISTRY.get(kind, "deliver_http")}
        return data


class DeliveryRequest(BaseModel):
    """Input of the delivery activities (no secrets: the activity reads and derives them)."""

    invocation_id: str
    trigger_id: str
    trigger_kind: TriggerType
    subscription_id: str
    subscription_revision: int = 0
    """Deliver with this revision of the subscription or a newer one (never a cached older one)."""
    response_mode: HttpDispatchMode | None
    callback_url: str
    input: dict[str, Any]
    attempt: int = 1
    """1-based; the workflow starts each attempt, so the activity's own attempt counter is always 1."""
    invocation_type: InvocationType = InvocationType.REAL_TIME
    """A TEST invocation is delivered even while its subscription is paused (to check the endpoint)."""
    retry: RetrySchedule | None = None
    """The invocation's retry schedule; None only in requests scheduled before it travelled here (the
    activity then uses the settings')."""
    holds_rate_slot: bool = False
    """The workflow waited for a slot the rate limiter gave this attempt (``event_triggers.rate_limits``)."""
    retry_until: datetime | None = None
    """End of the delivery window (the deadline, or 24 h for fire-and-forget): no attempt starts after it.

    Enforced by the activity, because local activities do not enforce ``schedule_to_close_timeout``
    between their retries (temporalio 1.35)."""


class AttemptReport(BaseModel):
    """What one delivery attempt did, as its worker saw it: the result's ``report`` on success, the
    failure's details otherwise. Destinations give ``status_code`` and ``response``; the worker's
    ``AttemptTimingInterceptor`` adds the timing, so every destination reports alike."""

    started: datetime | None = None
    duration_ms: int | None = None
    status_code: int | None = None
    response: str | None = None
    """Up to 512 bytes of the receiver's answer, when the failure's message does not quote it already."""


class FailedInvocation(BaseModel):
    """Input of ``record_invocation_failure``: one failed or timed-out invocation, counted toward its
    subscription's automatic disable."""

    invocation_id: str
    trigger_id: str
    subscription_id: str
    error: str
    gone: bool = False
    """The receiver answered that it is gone (410): disabled at once."""


class DeliveryResult(BaseModel):
    status_code: int
    answer: dict[str, Any] | None = None
    """The subscriber's output when its response is the answer (SYNC, DYNAMIC 200); already validated."""
    report: AttemptReport | None = None


class DeliveryAttempt(BaseModel):
    """``GET /trigger-invocations/v1/{id}/attempts``: one attempt to deliver an invocation."""

    attempt: int
    started: datetime
    durationMs: int | None
    statusCode: int | None
    error: str | None
    """None on success; else what went wrong in plain words, plus up to 512 bytes of the response."""
    nextAttemptAt: datetime | None
    """When the next attempt is due; None when this one was the last."""


class Completion(BaseModel):
    """Argument of the ``complete`` Update: the subscriber's answer, already validated by the API."""

    output: dict[str, Any] | None = None
    error: str | None = None
    redeliveryOf: str | None = None
    """The invocation this one redelivers (extension: ``POST /{id}/redeliver`` and replays)."""


# --- API wire shapes ---------------------------------------------------------------------------------


class StartInvocationBody(WireModel):
    triggerId: str
    input: dict[str, Any]
    contentJson: dict[str, Any] = Field(default_factory=dict)


class TestInvocationBody(WireModel):
    triggerId: str
    input: dict[str, Any] | None = None
    contentJson: dict[str, Any] = Field(default_factory=dict)
    subscriptionIds: list[str] | None = None


class CompleteInvocationBody(WireModel):
    secret: str
    output: dict[str, Any] | None = None
    error: str | None = None
    redeliveryOf: str | None = None
    """The invocation this one redelivers (extension: ``POST /{id}/redeliver`` and replays)."""


class Invocation(BaseModel):
    """One started invocation, as ``/start`` and ``/test`` answer it."""

    model_config = ConfigDict(extra="forbid")

    id: str
    triggerId: str
    secret: str | None = None
    contentJson: dict[str, Any]


class StartedInvocation(Invocation):
    """``/start`` with ``waitSeconds`` (extension): an invocation and, when it finished within the wait,
    its outcome; without ``status`` it is still running (read it with ``GET /{id}``)."""

    status: InvocationStatus | None = None
    output: dict[str, Any] | None = None
    error: str | None = None


class InvocationDetail(BaseModel):
    """``GET /trigger-invocations/v1/{id}``: where one invocation stands and how it ended.

    Also the workflow's result (and the details of its failure), for readers of its history.
    """

    id: str
    triggerId: str
    subscriptionId: str
    subscriptionName: str
    type: InvocationType
    status: InvocationStatus
    created: datetime
    completed: datetime | None = None
    output: dict[str, Any] | None = None
    error: str | None = None
    redeliveryOf: str | None = None
    """The invocation this one redelivers (extension: ``POST /{id}/redeliver`` and replays)."""
    pausedReason: str | None = None
    """Extension: why this PENDING invocation waits (its subscription was disabled automatically)."""
