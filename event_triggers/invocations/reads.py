"""Read invocations: one by id (optionally waiting for it to finish), and the status list."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import Any

from temporalio.client import (
    WorkflowExecution,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
)
from temporalio.service import RPCError, RPCStatusCode

from event_triggers.collection import apply_collection, parse_filter_terms
from event_triggers.errors import InvalidField, NotFound, Unavailable
from event_triggers.invocation_models import WORKFLOW_TYPE, InvocationDetail, InvocationStatus, InvocationType
from event_triggers.invocations.context import InvocationContext
from event_triggers.temporal import INVOCATION_STATUS, INVOCATION_TYPE, SUBSCRIPTION_ID, TRIGGER_ID

MAX_WAIT_SECONDS = 60
MAX_LISTED_INVOCATIONS = 2000
"""As SailPoint: the status list is a recent window, not the full history."""
STATUS_FILTERS = {"triggerId": {"eq"}, "subscriptionId": {"eq"}}
STATUS_SORTERS = {"triggerId", "subscriptionName", "created", "completed"}
_FILTER_SEARCH_ATTRIBUTES = {"triggerId": TRIGGER_ID.name, "subscriptionId": SUBSCRIPTION_ID.name}

logger = logging.getLogger(__name__)


async def describe_invocation(handle: WorkflowHandle[Any, Any]) -> WorkflowExecutionDescription:
    """The invocation's workflow as Temporal describes it; an unknown id is 404."""
    try:
        return await handle.describe()
    except RPCError as exc:
        if exc.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.INVALID_ARGUMENT):
            raise NotFound(f"invocation {handle.id} not found") from None
        raise Unavailable(f"cannot read invocation: {exc.message}") from exc


def status_of(description: WorkflowExecutionDescription) -> InvocationStatus:
    """The recorded status, or FAILED for a workflow that closed before recording a final one."""
    recorded = InvocationStatus(description.typed_search_attributes.get(INVOCATION_STATUS) or "PENDING")
    closed_early = description.status not in (None, WorkflowExecutionStatus.RUNNING) and not recorded.finished
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
    memo = await description.memo()
    attributes = description.typed_search_attributes
    completion = memo.get("completeInvocationInput") or {}
    failure = completion.get("localizedError") or {}
    status = status_of(description)
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
