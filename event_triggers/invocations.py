"""Invocations: fan an event out to its subscriptions, complete, read and list them.

One function per operation, called alike by the API, the CLI and the benchmarks. Each invocation is an
``InvocationWorkflow`` whose id is the invocation id; this module only talks to Temporal through the
client (it never imports workflow code) and does the work that must not run inside a workflow:
schema validation, JSONPath filters, secret checks.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from temporalio.client import (
    Client,
    WorkflowExecution,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from event_triggers.catalog import Catalog, TriggerDefinition
from event_triggers.collection import apply_collection, parse_filter_terms
from event_triggers.config import Settings
from event_triggers.errors import Conflict, Gone, InvalidField, NotFound, Unauthorized, Unavailable
from event_triggers.eventbridge import check_start_entry_size
from event_triggers.filters import filter_matches
from event_triggers.invocation_models import (
    UPDATE_COMPLETE,
    WORKFLOW_TYPE,
    Completion,
    Invocation,
    InvocationDetail,
    InvocationRequest,
    InvocationStatus,
    InvocationType,
    RejectionReason,
    RetrySchedule,
)
from event_triggers.models import HttpDispatchMode, SubscriptionType, TriggerType
from event_triggers.security.invocation_secret import invocation_secret, secrets_equal
from event_triggers.store import Store, Subscription
from event_triggers.subscriptions import parse_response_deadline
from event_triggers.temporal import INVOCATION_STATUS, INVOCATION_TYPE, SUBSCRIPTION_ID, TRIGGER_ID

MAX_WAIT_SECONDS = 60
MAX_LISTED_INVOCATIONS = 2000
"""As SailPoint: the status list is a recent window, not the full history."""
STATUS_FILTERS = {"triggerId": {"eq"}, "subscriptionId": {"eq"}}
STATUS_SORTERS = {"triggerId", "subscriptionName", "created", "completed"}
_FILTER_SEARCH_ATTRIBUTES = {"triggerId": TRIGGER_ID.name, "subscriptionId": SUBSCRIPTION_ID.name}
_IDEMPOTENCY_NAMESPACE = uuid.UUID("6f3c2a8e-3c1e-4c55-9a57-9d1d3e1f0b7a")

logger = logging.getLogger(__name__)


class EnabledSubscriptionReads:
    """A trigger's enabled subscriptions for the fan-out, read at most once per ``ttl``.

    Concurrent events of one trigger share one query; the answer is then reused for ``ttl``
    (``EVENT_TRIGGERS_FANOUT_CACHE_TTL``, 1 s), unless this process changed a subscription since: the
    store's write generation invalidates it, so an API replica sees its own writes at once and other
    replicas' within ``ttl``.
    """

    def __init__(self, store: Store, *, ttl: float) -> None:
        self._store = store
        self._ttl = ttl
        self._reads: dict[str, _SubscriptionRead] = {}

    async def read(self, trigger_id: str) -> list[Subscription]:
        now = time.monotonic()
        read = self._reads.get(trigger_id)
        if read is None or not read.reusable(now=now, generation=self._store.generation):
            query = asyncio.ensure_future(
                self._store.list_subscriptions(trigger_id=trigger_id, enabled_only=True)
            )
            read = _SubscriptionRead(now + self._ttl, self._store.generation, query)
            self._reads[trigger_id] = read
            query.add_done_callback(lambda done: self._forget_failure(trigger_id, done))
        return list(await asyncio.shield(read.query))

    def _forget_failure(self, trigger_id: str, query: asyncio.Future[list[Subscription]]) -> None:
        """A failed read is not reused: the next event asks the database again."""
        read = self._reads.get(trigger_id)
        if read is not None and read.query is query and (query.cancelled() or query.exception() is not None):
            del self._reads[trigger_id]


class _SubscriptionRead(NamedTuple):
    expires: float
    generation: int
    query: asyncio.Future[list[Subscription]]

    def reusable(self, *, now: float, generation: int) -> bool:
        """In flight, or answered recently, and no write by this process since it started."""
        return generation == self.generation and (not self.query.done() or now < self.expires)


@dataclass(frozen=True, kw_only=True)
class InvocationContext:
    """What every invocation operation needs; built once per process (or per request from shared parts)."""

    settings: Settings
    store: Store
    catalog: Catalog
    client: Client
    server_key: bytes
    enabled_subscriptions: EnabledSubscriptionReads = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        reads = EnabledSubscriptionReads(self.store, ttl=self.settings.fanout_cache_ttl.total_seconds())
        object.__setattr__(self, "enabled_subscriptions", reads)


def callback_url(settings: Settings, invocation_id: str) -> str:
    return f"{settings.callback_base_url}/trigger-invocations/v1/{invocation_id}/complete"


def _response_mode(trigger: TriggerDefinition, subscription: Subscription) -> HttpDispatchMode | None:
    if trigger.type is TriggerType.FIRE_AND_FORGET:
        return None
    if subscription.type is SubscriptionType.EVENTBRIDGE or subscription.httpConfig is None:
        return HttpDispatchMode.ASYNC
    return subscription.httpConfig.httpDispatchMode


def _invocation_id(idempotency_key: str | None, trigger_id: str, subscription_id: str) -> str:
    if idempotency_key is None:
        return str(uuid.uuid4())
    return str(uuid.uuid5(_IDEMPOTENCY_NAMESPACE, f"{idempotency_key}\n{trigger_id}\n{subscription_id}"))


def _retry_schedule(settings: Settings) -> RetrySchedule:
    return RetrySchedule(
        initial_interval=settings.retry_initial_interval,
        backoff=settings.retry_backoff,
        max_interval=settings.retry_max_interval,
        fire_and_forget_window=settings.fire_and_forget_retry_window,
        delivery_timeout=settings.delivery_timeout,
    )


async def _start_one(
    context: InvocationContext,
    *,
    trigger: TriggerDefinition,
    subscription: Subscription,
    payload: dict[str, Any],
    content_json: dict[str, Any],
    invocation_type: InvocationType,
    idempotency_key: str | None,
) -> Invocation:
    settings = context.settings
    invocation_id = _invocation_id(idempotency_key, trigger.id, subscription.id)
    mode = _response_mode(trigger, subscription)
    request = InvocationRequest(
        invocation_id=invocation_id,
        trigger_id=trigger.id,
        trigger_name=trigger.name,
        trigger_kind=trigger.type,
        subscription_id=subscription.id,
        subscription_name=subscription.name,
        subscription_type=subscription.type.value,
        response_mode=mode,
        response_deadline=parse_response_deadline(subscription.responseDeadline),
        callback_url=callback_url(settings, invocation_id),
        invocation_type=invocation_type,
        input=payload,
        content_json=content_json,
        retry=_retry_schedule(settings),
        local_delivery=settings.local_delivery,
    )
    memo = {
        "triggerName": trigger.name,
        "subscriptionName": subscription.name,
        "startInvocationInput": {"triggerId": trigger.id, "input": payload, "contentJson": content_json},
    }
    # A closed invocation with the same id is an idempotent repeat: answer with the same invocation.
    with contextlib.suppress(WorkflowAlreadyStartedError):
        await context.client.start_workflow(
            WORKFLOW_TYPE,
            request,
            id=invocation_id,
            task_queue=settings.task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            search_attributes=TypedSearchAttributes(
                [
                    SearchAttributePair(TRIGGER_ID, trigger.id),
                    SearchAttributePair(SUBSCRIPTION_ID, subscription.id),
                    SearchAttributePair(INVOCATION_TYPE, invocation_type.value),
                    SearchAttributePair(INVOCATION_STATUS, InvocationStatus.PENDING.value),
                ]
            ),
            memo=memo,
            static_summary=f"{trigger.name} ({trigger.id}) to subscription {subscription.name}",
            request_eager_start=settings.embedded_worker,
        )
    secret = (
        invocation_secret(server_key=context.server_key, invocation_id=invocation_id)
        if mode is not None and mode is not HttpDispatchMode.SYNC
        else None
    )
    return Invocation(id=invocation_id, triggerId=trigger.id, secret=secret, contentJson=content_json)


async def _fan_out(
    context: InvocationContext,
    *,
    trigger: TriggerDefinition,
    subscriptions: Sequence[Subscription],
    payload: dict[str, Any],
    content_json: dict[str, Any],
    invocation_type: InvocationType,
    idempotency_key: str | None = None,
) -> list[Invocation]:
    matching = [item for item in subscriptions if filter_matches(item.filter, payload)]
    for subscription in matching:  # 413 before anything starts
        check_start_entry_size(
            source_prefix=context.settings.eventbridge_source_prefix,
            subscription=subscription,
            trigger_id=trigger.id,
            trigger_kind=trigger.type,
            payload=payload,
            callback_url_for=functools.partial(callback_url, context.settings),
        )
    try:
        return list(
            await asyncio.gather(
                *(
                    _start_one(
                        context,
                        trigger=trigger,
                        subscription=subscription,
                        payload=payload,
                        content_json=content_json,
                        invocation_type=invocation_type,
                        idempotency_key=idempotency_key,
                    )
                    for subscription in matching
                )
            )
        )
    except RPCError as exc:
        raise Unavailable(f"cannot start invocations: {exc.message}") from exc


async def start_invocations(
    *,
    context: InvocationContext,
    trigger_id: str,
    payload: dict[str, Any],
    content_json: dict[str, Any],
    idempotency_key: str | None = None,
) -> list[Invocation]:
    """Validate an event and start one invocation per enabled subscription whose filter matches it.

    With ``idempotency_key``, invocation ids are derived from (key, trigger, subscription), so a repeat
    returns the same invocations and starts nothing new.
    """
    trigger = context.catalog.require(trigger_id)
    trigger.validate_input(payload)
    subscriptions = await context.enabled_subscriptions.read(trigger_id)
    return await _fan_out(
        context,
        trigger=trigger,
        subscriptions=subscriptions,
        payload=payload,
        content_json=content_json,
        invocation_type=InvocationType.REAL_TIME,
        idempotency_key=idempotency_key,
    )


async def start_test_invocations(
    *,
    context: InvocationContext,
    trigger_id: str,
    payload: dict[str, Any] | None,
    content_json: dict[str, Any],
    subscription_ids: Sequence[str] | None = None,
) -> list[Invocation]:
    """A TEST invocation per subscription of the trigger (enabled or not, filters applied).

    Without ``payload`` the trigger's example input is sent; ``subscription_ids`` narrows the audience.
    """
    trigger = context.catalog.require(trigger_id)
    if payload is None:
        payload = trigger.example_input
    else:
        trigger.validate_input(payload)
    subscriptions = await context.store.list_subscriptions(trigger_id=trigger_id)
    if subscription_ids is not None:
        known = {item.id for item in subscriptions}
        unknown = [item for item in subscription_ids if item not in known]
        if unknown:
            raise InvalidField(
                "subscriptionIds", f"{unknown[0]} is not a subscription of trigger {trigger_id}"
            )
        wanted = set(subscription_ids)
        subscriptions = [item for item in subscriptions if item.id in wanted]
    return await _fan_out(
        context,
        trigger=trigger,
        subscriptions=subscriptions,
        payload=payload,
        content_json=content_json,
        invocation_type=InvocationType.TEST,
    )


async def _describe(handle: WorkflowHandle[Any, Any]) -> WorkflowExecutionDescription:
    try:
        return await handle.describe()
    except RPCError as exc:
        if exc.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.INVALID_ARGUMENT):
            raise NotFound(f"invocation {handle.id} not found") from None
        raise Unavailable(f"cannot read invocation: {exc.message}") from exc


def _status_of(description: WorkflowExecutionDescription) -> InvocationStatus:
    recorded = InvocationStatus(description.typed_search_attributes.get(INVOCATION_STATUS) or "PENDING")
    closed_early = description.status not in (None, WorkflowExecutionStatus.RUNNING) and not recorded.finished
    return InvocationStatus.FAILED if closed_early else recorded


def _finished_error(invocation_id: str, status: InvocationStatus) -> Conflict | Gone:
    if status is InvocationStatus.TIMED_OUT:
        return Gone(f"invocation {invocation_id} timed out: its deadline has passed")
    return Conflict(f"invocation {invocation_id} is already completed ({status.value})")


async def complete_invocation(
    *,
    context: InvocationContext,
    invocation_id: str,
    secret: str,
    output: dict[str, Any] | None,
    error: str | None,
) -> None:
    """A subscriber's answer: check the secret and the output schema, then send the ``complete`` Update.

    A wrong secret or a bad output changes nothing, so the subscriber can retry before the deadline.
    """
    handle = context.client.get_workflow_handle(invocation_id)
    description = await _describe(handle)
    expected = invocation_secret(server_key=context.server_key, invocation_id=invocation_id)
    if not secrets_equal(secret, expected):
        raise Unauthorized("secret: does not match the invocation")
    status = _status_of(description)
    if status.finished:
        raise _finished_error(invocation_id, status)
    if output is None and error is None:
        raise InvalidField("output", "is required (or error, to fail the invocation)")
    if output is not None and error is not None:
        raise InvalidField("error", "cannot be sent together with output")
    if output is not None:
        trigger = context.catalog.require(description.typed_search_attributes.get(TRIGGER_ID) or "")
        trigger.validate_output(output)
    try:
        await handle.execute_update(
            UPDATE_COMPLETE,
            Completion(output=output, error=error),
            rpc_timeout=context.settings.complete_rpc_timeout,
        )
    except WorkflowUpdateFailedError as exc:
        cause = exc.cause
        reason = cause.type if isinstance(cause, ApplicationError) else None
        message = cause.message if isinstance(cause, ApplicationError) else str(exc)
        if reason == RejectionReason.DEADLINE_PASSED:
            raise Gone(f"invocation {invocation_id}: {message}") from None
        raise Conflict(f"invocation {invocation_id}: {message}") from None
    except WorkflowUpdateRPCTimeoutOrCancelledError:
        raise Unavailable("no worker took the completion in time; retry", retry_after=1) from None
    except RPCError as exc:
        if exc.status is RPCStatusCode.NOT_FOUND:  # the workflow closed since we described it
            raise _finished_error(invocation_id, _status_of(await _describe(handle))) from None
        raise Unavailable(f"cannot complete invocation: {exc.message}") from exc


async def get_invocation(
    *, context: InvocationContext, invocation_id: str, wait_seconds: float = 0
) -> InvocationDetail:
    """Where an invocation stands; with ``wait_seconds`` (at most 60) wait that long for it to finish."""
    if not 0 <= wait_seconds <= MAX_WAIT_SECONDS:
        raise InvalidField("waitSeconds", f"must be between 0 and {MAX_WAIT_SECONDS}")
    handle = context.client.get_workflow_handle(invocation_id, result_type=InvocationDetail)
    if wait_seconds:
        # The workflow's result (or its failure's details) is the answer: one call, no describe.
        with contextlib.suppress(TimeoutError, RPCError):
            try:
                return await asyncio.wait_for(handle.result(), timeout=wait_seconds)
            except WorkflowFailureError as ended:
                cause = ended.cause
                if isinstance(cause, ApplicationError) and cause.details:
                    return InvocationDetail.model_validate(cause.details[0])
    description = await _describe(handle)
    memo = await description.memo()
    attributes = description.typed_search_attributes
    completion = memo.get("completeInvocationInput") or {}
    failure = completion.get("localizedError") or {}
    status = _status_of(description)
    error = failure.get("message")
    if status is InvocationStatus.FAILED and error is None:
        error = f"workflow {description.status.name.lower() if description.status else 'closed'}"
    return InvocationDetail(
        id=invocation_id,
        triggerId=attributes.get(TRIGGER_ID) or "",
        subscriptionId=attributes.get(SUBSCRIPTION_ID) or "",
        subscriptionName=memo.get("subscriptionName", ""),
        type=InvocationType(attributes.get(INVOCATION_TYPE) or InvocationType.REAL_TIME),
        status=status,
        created=description.start_time,
        completed=description.close_time,
        output=completion.get("output"),
        error=error,
    )


def _quoted(value: object) -> str:
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


async def _readable_memo(execution: WorkflowExecution) -> Mapping[str, Any]:
    """The memo, or nothing when this process cannot decode it (another payload key, a lost key):
    one unreadable invocation must not break the whole list."""
    try:
        return await execution.memo()
    except Exception:
        logger.warning("cannot decode the memo of invocation %s; listing it without details", execution.id)
        return {}


def visibility_query(filters: str | None) -> str:
    """A Temporal List Filter for the invocations matching SailPoint ``filters`` (``eq`` on two fields)."""
    query = f'WorkflowType = "{WORKFLOW_TYPE}"'
    disjunction = parse_filter_terms(filters, allowed=STATUS_FILTERS)
    if not any(disjunction):  # no filters: [[]], one alternative without terms
        return query
    alternatives = [
        " AND ".join(
            f"{_FILTER_SEARCH_ATTRIBUTES[term.field]} = {_quoted(term.value)}" for term in conjunction
        )
        for conjunction in disjunction
    ]
    return f"{query} AND (" + " OR ".join(f"({item})" for item in alternatives) + ")"


async def list_invocation_statuses(
    *,
    context: InvocationContext,
    filters: str | None,
    sorters: str | None,
    limit: int,
    offset: int,
) -> tuple[list[Mapping[str, Any]], int]:
    """SailPoint's ``InvocationStatus[]`` from Temporal visibility (latest 2000): filtered, sorted, paged."""
    query = visibility_query(filters)
    items: list[dict[str, Any]] = []
    try:
        async for execution in context.client.list_workflows(query, limit=MAX_LISTED_INVOCATIONS):
            memo = await _readable_memo(execution)
            attributes = execution.typed_search_attributes
            completion = memo.get("completeInvocationInput")
            items.append(
                {
                    "id": execution.id,
                    "triggerId": attributes.get(TRIGGER_ID),
                    "subscriptionName": memo.get("subscriptionName"),
                    "subscriptionId": attributes.get(SUBSCRIPTION_ID),
                    "type": attributes.get(INVOCATION_TYPE),
                    "created": execution.start_time,
                    "completed": execution.close_time,
                    "startInvocationInput": memo.get("startInvocationInput"),
                    "completeInvocationInput": completion,
                }
            )
    except RPCError as exc:
        raise Unavailable(f"cannot list invocations: {exc.message}") from exc
    page, total = apply_collection(
        items,
        filters=None,
        sorters=sorters,
        limit=limit,
        offset=offset,
        filter_fields=STATUS_FILTERS,
        sort_fields=STATUS_SORTERS,
        default_sort=[("created", True)],
    )
    return list(page), total
