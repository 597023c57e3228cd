"""Read invocations: one by id (optionally waiting for it to finish), and the status list."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from temporalio.client import (
    WorkflowExecution,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowQueryFailedError,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from event_triggers.collection import apply_collection, parse_filter_terms
from event_triggers.errors import DomainError, InvalidField, NotFound, Unavailable
from event_triggers.invocation_models import (
    QUERY_ATTEMPTS,
    WORKFLOW_TYPE,
    DeliveryAttempt,
    InvocationDetail,
    InvocationStatus,
    InvocationType,
)
from event_triggers.invocations.context import InvocationContext
from event_triggers.temporal import INVOCATION_STATUS, INVOCATION_TYPE, SUBSCRIPTION_ID, TRIGGER_ID

MAX_WAIT_SECONDS = 60
MAX_START_WAIT_SECONDS = 30
"""``POST /start?waitSeconds``: a producer holds its request open for the outcome, not a long poll."""
QUERY_RPC_TIMEOUT = timedelta(seconds=15)
"""A worker answers a query between workflow tasks; one may wait for an attempt in flight (10 s)."""
MAX_LISTED_INVOCATIONS = 2000
"""As SailPoint: the status list is a recent window, not the full history."""
STATUS_FILTERS = {"triggerId": {"eq"}, "subscriptionId": {"eq"}}
STATUS_SORTERS = {"triggerId", "subscriptionName", "created", "completed"}
_FILTER_SEARCH_ATTRIBUTES = {"triggerId": TRIGGER_ID.name, "subscriptionId": SUBSCRIPTION_ID.name}
_INVOCATIONS = f'WorkflowType = "{WORKFLOW_TYPE}"'

logger = logging.getLogger(__name__)


async def describe_invocation(handle: WorkflowHandle[Any, Any]) -> WorkflowExecutionDescription:
    """The invocation's workflow as Temporal describes it; an unknown id is 404."""
    try:
        return await handle.describe()
    except RPCError as exc:
        if exc.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.INVALID_ARGUMENT):
            raise NotFound(f"invocation {handle.id} not found") from None
        raise Unavailable(f"cannot read invocation: {exc.message}") from exc


def status_of(execution: WorkflowExecution) -> InvocationStatus:
    """The recorded status, or FAILED for a workflow that closed before recording a final one."""
    recorded = InvocationStatus(execution.typed_search_attributes.get(INVOCATION_STATUS) or "PENDING")
    closed_early = execution.status not in (None, WorkflowExecutionStatus.RUNNING) and not recorded.finished
    return InvocationStatus.FAILED if closed_early else recorded


async def get_invocation(
    *, context: InvocationContext, invocation_id: str, wait_seconds: float = 0
) -> InvocationDetail:
    """Where an invocation stands; with ``wait_seconds`` (at most 60) wait that long for it to finish."""
    if not 0 <= wait_seconds <= MAX_WAIT_SECONDS:
        raise InvalidField("waitSeconds", f"must be between 0 and {MAX_WAIT_SECONDS}")
    handle = context.client.get_workflow_handle(invocation_id, result_type=InvocationDetail)
    if wait_seconds:
        # Only a wait: the answer always comes from the description below, so an invocation reads the
        # same (server start and close times) however it is asked for.
        with contextlib.suppress(TimeoutError, RPCError, WorkflowFailureError):
            await asyncio.wait_for(handle.result(), timeout=wait_seconds)
    description = await describe_invocation(handle)
    return _detail(description, await description.memo())


async def outcome_within(
    *, context: InvocationContext, invocation_id: str, wait_seconds: float
) -> InvocationDetail | None:
    """How the invocation ended if it ends within ``wait_seconds``, else None (nothing raised: the
    invocation is started whatever happens here).

    One long poll of the workflow's result, which is the ``InvocationDetail`` (or the details of its
    failure), so no describe; only a workflow that closed without an outcome of its own (terminated,
    say) is described, to read as ``GET /{id}`` reads it."""
    handle = context.client.get_workflow_handle(invocation_id, result_type=InvocationDetail)
    try:
        return await asyncio.wait_for(handle.result(), timeout=wait_seconds)
    except WorkflowFailureError as failure:
        cause = failure.cause
        if isinstance(cause, ApplicationError) and cause.details:
            return InvocationDetail.model_validate(cause.details[0])
    except (TimeoutError, RPCError):
        return None
    try:
        return await get_invocation(context=context, invocation_id=invocation_id)
    except DomainError:
        return None


async def list_attempts(*, context: InvocationContext, invocation_id: str) -> list[DeliveryAttempt]:
    """Every delivery attempt of an invocation, oldest first (the workflow's attempt log).

    Read by a query, which a worker answers (replaying the history of a closed invocation)."""
    handle = context.client.get_workflow_handle(invocation_id)
    try:
        return await handle.query(
            QUERY_ATTEMPTS, result_type=list[DeliveryAttempt], rpc_timeout=QUERY_RPC_TIMEOUT
        )
    except WorkflowQueryFailedError:  # a workflow of another type under this id
        raise NotFound(f"invocation {invocation_id} not found") from None
    except RPCError as exc:
        if exc.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.INVALID_ARGUMENT):
            raise NotFound(f"invocation {invocation_id} not found") from None
        raise Unavailable(f"cannot read the attempts of invocation {invocation_id}: {exc.message}") from exc


def _detail(description: WorkflowExecutionDescription, memo: Mapping[str, Any]) -> InvocationDetail:
    attributes = description.typed_search_attributes
    completion = memo.get("completeInvocationInput") or {}
    failure = completion.get("localizedError") or {}
    status = status_of(description)
    error = failure.get("message")
    if status is InvocationStatus.FAILED and error is None:
        error = f"workflow {description.status.name.lower() if description.status else 'closed'}"
    return InvocationDetail(
        id=description.id,
        triggerId=attributes.get(TRIGGER_ID) or "",
        subscriptionId=attributes.get(SUBSCRIPTION_ID) or "",
        subscriptionName=memo.get("subscriptionName", ""),
        type=InvocationType(attributes.get(INVOCATION_TYPE) or InvocationType.REAL_TIME),
        status=status,
        created=description.start_time,
        completed=description.close_time,
        output=completion.get("output"),
        error=error,
        redeliveryOf=memo.get("redeliveryOf"),
    )


@dataclass(frozen=True)
class InvocationRecord:
    """An invocation with the event it delivers, for a person reading it (the Administration UI)."""

    detail: InvocationDetail
    input: dict[str, Any] | None


async def get_invocation_record(*, context: InvocationContext, invocation_id: str) -> InvocationRecord:
    description = await describe_invocation(context.client.get_workflow_handle(invocation_id))
    memo = await _readable_memo(description)
    started = memo.get("startInvocationInput") or {}
    return InvocationRecord(detail=_detail(description, memo), input=started.get("input"))


def quoted(value: object) -> str:
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
    disjunction = parse_filter_terms(filters, allowed=STATUS_FILTERS)
    if not any(disjunction):  # no filters: [[]], one alternative without terms
        return _INVOCATIONS
    alternatives = [
        " AND ".join(
            f"{_FILTER_SEARCH_ATTRIBUTES[term.field]} = {quoted(term.value)}" for term in conjunction
        )
        for conjunction in disjunction
    ]
    return f"{_INVOCATIONS} AND (" + " OR ".join(f"({item})" for item in alternatives) + ")"


def invocation_query(
    *,
    trigger_id: str | None = None,
    subscription_id: str | None = None,
    status: InvocationStatus | None = None,
) -> str:
    """A Temporal List Filter for the invocations of a trigger, a subscription and a status (each optional).

    A workflow that closed without recording a final status (terminated, say) counts as FAILED, as
    ``status_of`` reports it.
    """
    terms = [_INVOCATIONS]
    if trigger_id is not None:
        terms.append(f"{TRIGGER_ID.name} = {quoted(trigger_id)}")
    if subscription_id is not None:
        terms.append(f"{SUBSCRIPTION_ID.name} = {quoted(subscription_id)}")
    if status is not None:
        terms.append(status_clause(status))
    return " AND ".join(terms)


def status_clause(status: InvocationStatus) -> str:
    """A List Filter term for invocations with ``status``, as ``status_of`` reports it."""
    unfinished = ", ".join(quoted(item.value) for item in InvocationStatus if not item.finished)
    recorded = f"{INVOCATION_STATUS.name} = {quoted(status.value)}"
    if status is InvocationStatus.FAILED:
        closed_early = f'ExecutionStatus != "Running" AND {INVOCATION_STATUS.name} IN ({unfinished})'
        return f"({recorded} OR ({closed_early}))"
    if not status.finished:
        return f'{recorded} AND ExecutionStatus = "Running"'
    return recorded


@dataclass(frozen=True)
class InvocationSummary:
    """One row of an invocation list."""

    id: str
    triggerId: str
    subscriptionId: str
    subscriptionName: str
    type: InvocationType
    status: InvocationStatus
    created: datetime
    completed: datetime | None


@dataclass(frozen=True)
class InvocationPage:
    items: list[InvocationSummary]
    next_page_token: bytes | None
    """Temporal's opaque token for the next page; None on the last one."""


async def list_invocations(
    *,
    context: InvocationContext,
    trigger_id: str | None = None,
    subscription_id: str | None = None,
    status: InvocationStatus | None = None,
    page_size: int = 50,
    page_token: bytes | None = None,
) -> InvocationPage:
    """One page of invocations, newest first, straight from Temporal visibility with the filters in the query.

    Visibility orders in-flight invocations first (newest started first), then finished ones (newest
    finished first); only the page's memos are decoded. ``page_token`` must be one this function
    returned: Temporal retries a malformed one for a long while.
    """
    query = invocation_query(trigger_id=trigger_id, subscription_id=subscription_id, status=status)
    executions = context.client.list_workflows(query, page_size=page_size, next_page_token=page_token)
    try:
        await executions.fetch_next_page()
    except RPCError as exc:
        raise Unavailable(f"cannot list invocations: {exc.message}") from exc
    page = list(executions.current_page or [])
    memos = await asyncio.gather(*(_readable_memo(execution) for execution in page))
    items = [
        InvocationSummary(
            id=execution.id,
            triggerId=execution.typed_search_attributes.get(TRIGGER_ID) or "",
            subscriptionId=execution.typed_search_attributes.get(SUBSCRIPTION_ID) or "",
            subscriptionName=memo.get("subscriptionName", ""),
            type=InvocationType(execution.typed_search_attributes.get(INVOCATION_TYPE) or "REAL_TIME"),
            status=status_of(execution),
            created=execution.start_time,
            completed=execution.close_time,
        )
        for execution, memo in zip(page, memos, strict=True)
    ]
    return InvocationPage(items=items, next_page_token=executions.next_page_token if page else None)


async def count_invocations(*, context: InvocationContext, query: str) -> int:
    try:
        return (await context.client.count_workflows(query)).count
    except RPCError as exc:
        raise Unavailable(f"cannot count invocations: {exc.message}") from exc


def _status_item(execution: WorkflowExecution, memo: Mapping[str, Any]) -> dict[str, Any]:
    """SailPoint's ``InvocationStatus`` of one invocation."""
    attributes = execution.typed_search_attributes
    return {
        "id": execution.id,
        "triggerId": attributes.get(TRIGGER_ID),
        "subscriptionName": memo.get("subscriptionName"),
        "subscriptionId": attributes.get(SUBSCRIPTION_ID),
        "type": attributes.get(INVOCATION_TYPE),
        "created": execution.start_time,
        "completed": execution.close_time,
        "startInvocationInput": memo.get("startInvocationInput"),
        "completeInvocationInput": memo.get("completeInvocationInput"),
    }


async def list_invocation_statuses(
    *,
    context: InvocationContext,
    filters: str | None,
    sorters: str | None,
    limit: int,
    offset: int,
) -> list[Mapping[str, Any]]:
    """SailPoint's ``InvocationStatus[]`` from Temporal visibility, the filters in the visibility query.

    Without ``sorters``, the page is read in visibility order (in-flight first, then newest finished),
    ``offset + limit`` rows at most. A sort reads the latest 2000 and sorts them. Either way only the
    returned page's memos are decoded (all of them only to sort by ``subscriptionName``).
    """
    query = visibility_query(filters)
    if limit == 0:
        return []
    if not sorters:
        wanted = offset + limit
        executions = []
        try:
            async for execution in context.client.list_workflows(
                query, limit=wanted, page_size=min(wanted, MAX_LISTED_INVOCATIONS)
            ):
                executions.append(execution)
        except RPCError as exc:
            raise Unavailable(f"cannot list invocations: {exc.message}") from exc
        page = executions[offset:]
        memos = await asyncio.gather(*(_readable_memo(execution) for execution in page))
        return [_status_item(execution, memo) for execution, memo in zip(page, memos, strict=True)]
    by_name = "subscriptionName" in sorters
    rows: list[dict[str, Any]] = []
    try:
        async for execution in context.client.list_workflows(query, limit=MAX_LISTED_INVOCATIONS):
            memo = await _readable_memo(execution) if by_name else {}
            rows.append({**_status_item(execution, memo), "execution": execution})
    except RPCError as exc:
        raise Unavailable(f"cannot list invocations: {exc.message}") from exc
    sorted_page, _ = apply_collection(
        rows,
        filters=None,
        sorters=sorters,
        limit=limit,
        offset=offset,
        filter_fields=STATUS_FILTERS,
        sort_fields=STATUS_SORTERS,
        default_sort=[("created", True)],
    )
    executions = [row["execution"] for row in sorted_page]
    memos = await asyncio.gather(*(_readable_memo(execution) for execution in executions))
    return [_status_item(execution, memo) for execution, memo in zip(executions, memos, strict=True)]


async def count_invocation_statuses(*, context: InvocationContext, filters: str | None) -> int:
    """How many invocations match ``filters`` (``X-Total-Count``)."""
    return await count_invocations(context=context, query=visibility_query(filters))
