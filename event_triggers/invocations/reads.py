"""Read invocations: one by id (optionally waiting for it to finish), and the status list."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp
from temporalio.api.workflow.v1 import WorkflowExecutionInfo
from temporalio.api.workflowservice.v1 import ListWorkflowExecutionsRequest
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

from event_triggers.collection import apply_collection, parse_filter_terms, parse_sorters
from event_triggers.errors import DomainError, InvalidField, NotFound, Unavailable
from event_triggers.invocation_models import (
    PAUSED_REASON,
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
MAX_SORTED_INVOCATIONS = 1000
"""Sorters visibility cannot serve sort in memory: at most this many matching invocations (about 0.3 s)."""
STATUS_FILTERS = {"triggerId": {"eq"}, "subscriptionId": {"eq"}}
STATUS_SORTERS = {"triggerId", "subscriptionName", "created", "completed"}
_FILTER_SEARCH_ATTRIBUTES = {"triggerId": TRIGGER_ID.name, "subscriptionId": SUBSCRIPTION_ID.name}
_INVOCATIONS = f'WorkflowType = "{WORKFLOW_TYPE}"'
_CONTROL_CHARACTER = re.compile(r"[\x00-\x1f\x7f-\x9f]")

logger = logging.getLogger(__name__)


async def describe_workflow(
    handle: WorkflowHandle[Any, Any], *, noun: str, workflow_type: str
) -> WorkflowExecutionDescription:
    """A workflow of ``workflow_type`` as Temporal describes it; an unknown id, or the id of a workflow of
    another type (a replay's read as an invocation), is 404 naming the ``noun`` (invocation, replay)."""
    try:
        description = await handle.describe()
    except RPCError as exc:
        if exc.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.INVALID_ARGUMENT):
            raise NotFound(f"{noun} {handle.id} not found") from None
        raise Unavailable(f"cannot read {noun}: {exc.message}") from exc
    if description.workflow_type != workflow_type:
        raise NotFound(f"{noun} {handle.id} not found")
    return description


async def describe_invocation(handle: WorkflowHandle[Any, Any]) -> WorkflowExecutionDescription:
    """The invocation's workflow as Temporal describes it; an unknown id is 404."""
    return await describe_workflow(handle, noun="invocation", workflow_type=WORKFLOW_TYPE)


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
        pausedReason=memo.get(PAUSED_REASON),
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


def searched(value: object, *, field: str, subject: str = "the value") -> str:
    """``value`` quoted for a List Filter, refusing control characters (400 naming ``field``): no id holds
    one, and Temporal's SQL visibility fails on a NUL after seconds of retries instead of matching nothing."""
    found = _CONTROL_CHARACTER.search(str(value))
    if found:
        raise InvalidField(field, f"{subject} contains the control character U+{ord(found.group()):04X}")
    return quoted(value)


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
            f"{_FILTER_SEARCH_ATTRIBUTES[term.field]} = "
            + searched(term.value, field="filters", subject=f"the {term.field} value")
            for term in conjunction
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
        terms.append(f"{TRIGGER_ID.name} = {searched(trigger_id, field='triggerId')}")
    if subscription_id is not None:
        terms.append(f"{SUBSCRIPTION_ID.name} = {searched(subscription_id, field='subscriptionId')}")
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
    """Where the next page starts (the last row's start time and id); None on the last page."""


async def list_invocations(
    *,
    context: InvocationContext,
    trigger_id: str | None = None,
    subscription_id: str | None = None,
    status: InvocationStatus | None = None,
    page_size: int = 50,
    page_token: bytes | None = None,
) -> InvocationPage:
    """One page of invocations, newest created first, from Temporal visibility with the filters in the query.

    Reads about one page of each of the running and the closed invocations (``newest_executions``) and
    decodes only the page's memos. A ``page_token`` is one this function returned; another is a 400.
    """
    query = invocation_query(trigger_id=trigger_id, subscription_id=subscription_id, status=status)
    after = _Cursor.parse(page_token) if page_token else None
    if after is not None:
        query += f" AND StartTime <= {_time_literal(after.start)}"
    executions = await newest_executions(
        context=context, query=query, take=page_size + 1, keep=after.precedes if after else None
    )
    page = executions[:page_size]
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
    more = len(executions) > page_size
    return InvocationPage(items=items, next_page_token=_Cursor.of(page[-1]).token() if more else None)


# --- newest first, straight from visibility ---------------------------------------------------------
#
# SQL visibility (the dev server's SQLite, PostgreSQL, MySQL) has no ORDER BY: it lists running executions
# first (newest started first), then closed ones by close time, newest first. "Newest created first" is
# built from that order: running invocations are already in start order, and a closed invocation closes
# after it starts, so once the closed list reaches a close time older than the page's oldest start,
# nothing further down can enter the page. When a burst closed out of start order, the page's rows all
# started at or after the oldest start among the newest rows seen, one more read. A deep offset is found
# by counting (``CountWorkflowExecutions`` with a StartTime bound) instead of reading the rows before it.

_RUNNING = 'ExecutionStatus = "Running"'
_CLOSED = 'ExecutionStatus != "Running"'
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
SEEK_SLACK = 25
"""A seek stops within this many rows of its offset: reading a row costs about a tenth of a count."""
MAX_SEEK_COUNTS = 40


def _micros(moment: Timestamp | datetime) -> int:
    if isinstance(moment, datetime):
        return (moment - _EPOCH) // _MICROSECOND
    return moment.seconds * 1_000_000 + moment.nanos // 1000


def _newest_key(info: WorkflowExecutionInfo) -> tuple[int, str]:
    """Newest started first, then by id: one total order every page agrees on."""
    return (-_micros(info.start_time), info.execution.workflow_id)


def _execution(context: InvocationContext, info: WorkflowExecutionInfo) -> WorkflowExecution:
    """A listed row as the SDK's ``WorkflowExecution``, built only for the rows a page returns: the
    SDK's own listing decodes every row's search attributes (about 0.3 ms a row), the rows a page only
    compares need none."""
    return WorkflowExecution._from_raw_info(info, context.client.namespace, context.client.data_converter)


def _exact_time(moment: Timestamp) -> str:
    """A List Filter time for exactly this visibility timestamp (nanoseconds kept)."""
    return f'"{moment.ToDatetime():%Y-%m-%dT%H:%M:%S}.{moment.nanos:09d}Z"'


def _time_literal(moment: datetime) -> str:
    """A List Filter time that covers the whole microsecond (visibility keeps nanoseconds)."""
    moment = moment.astimezone(UTC)
    return f'"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond:06d}999Z"'


@dataclass(frozen=True)
class _Cursor:
    """The last row of a page: the next page holds the rows after it in ``_newest_key`` order."""

    start: datetime
    id: str

    @classmethod
    def of(cls, execution: WorkflowExecution) -> _Cursor:
        return cls(execution.start_time, execution.id)

    @classmethod
    def parse(cls, token: bytes) -> _Cursor:
        try:
            start, workflow_id = json.loads(token)
            return cls(datetime.fromisoformat(start), str(workflow_id))
        except (ValueError, TypeError) as exc:
            raise InvalidField("page", "is not a page of this list") from exc

    def token(self) -> bytes:
        return json.dumps([self.start.isoformat(), self.id]).encode()

    def precedes(self, info: WorkflowExecutionInfo) -> bool:
        return _newest_key(info) > (-_micros(self.start), self.id)


async def _read_page(
    context: InvocationContext, query: str, *, page_size: int, token: bytes | None
) -> tuple[list[WorkflowExecutionInfo], bytes | None]:
    """One page of visibility rows, undecoded."""
    request = ListWorkflowExecutionsRequest(
        namespace=context.client.namespace, page_size=page_size, next_page_token=token or b"", query=query
    )
    try:
        response = await context.client.workflow_service.list_workflow_executions(request, retry=True)
    except RPCError as exc:
        raise Unavailable(f"cannot list invocations: {exc.message}") from exc
    page = list(response.executions)
    return page, (response.next_page_token or None) if page else None


async def newest_executions(
    *,
    context: InvocationContext,
    query: str,
    take: int,
    keep: Callable[[WorkflowExecutionInfo], bool] | None = None,
) -> list[WorkflowExecution]:
    """The ``take`` newest created executions of ``query`` (``_newest_key`` order); rows ``keep`` refuses
    are skipped. Reads one page of ``take`` running and one of ``2 * take`` closed rows, and no memo; when
    the closed page cannot settle the order (closes out of start order: a burst of concurrent
    deliveries), one more read of the rows started since the ``take``-th newest start seen."""

    def kept(page: list[WorkflowExecutionInfo]) -> list[WorkflowExecutionInfo]:
        return [info for info in page if keep is None or keep(info)]

    async def every_row(clause: str) -> list[WorkflowExecutionInfo]:
        rows: list[WorkflowExecutionInfo] = []
        token = None
        while True:
            page, token = await _read_page(context, f"{query} AND {clause}", page_size=2 * take, token=token)
            rows += kept(page)
            if token is None:
                return rows

    async def running() -> list[WorkflowExecutionInfo]:
        rows: list[WorkflowExecutionInfo] = []
        token = None
        while len(rows) < take:
            page, token = await _read_page(context, f"{query} AND {_RUNNING}", page_size=take, token=token)
            rows += kept(page)
            if token is None:
                break
        return rows

    async def closed() -> tuple[list[WorkflowExecutionInfo], bool]:
        """Closed rows, newest closed first, and whether they settle the page: everything further down
        closed before the last row read did, so it also started before that."""
        rows: list[WorkflowExecutionInfo] = []
        token = None
        while True:
            page, token = await _read_page(context, f"{query} AND {_CLOSED}", page_size=2 * take, token=token)
            rows = sorted(rows + kept(page), key=_newest_key)
            last = page[-1] if page else None
            if token is None or (
                len(rows) >= take
                and last is not None
                and last.HasField("close_time")
                and _micros(last.close_time) < _micros(rows[take - 1].start_time)
            ):
                return rows, True
            if len(rows) >= take:
                return rows, False

    in_flight, (finished, settled) = await asyncio.gather(running(), closed())
    unique = {info.execution.workflow_id: info for info in finished + in_flight}  # closed in between
    window = sorted(unique.values(), key=_newest_key)[:take]
    if not settled:
        # The take newest started at or after the take-th newest start seen so far: read them all at once.
        window = sorted(
            await every_row(f"StartTime >= {_exact_time(window[-1].start_time)}"),
            key=_newest_key,
        )[:take]
    return [_execution(context, info) for info in window]


async def _count(context: InvocationContext, query: str) -> int:
    return await count_invocations(context=context, query=query)


async def seek_start_time(
    *, context: InvocationContext, query: str, rank: int, near: datetime | None = None
) -> tuple[str, int] | None:
    """A StartTime bound (a List Filter literal) with ``newer`` invocations started after it, where
    ``rank - SEEK_SLACK <= newer <= rank``: the ``rank``-th newest invocation is the
    ``(rank - newer)``-th of those started at or before it.

    Counting, not reading: it gallops back from ``near`` (a start time the caller saw, else now) until
    enough started after the bound, then interpolates between the two bounds (bisecting when
    interpolation stalls on bursty start times). None when fewer than ``rank - SEEK_SLACK`` match."""
    wanted = range(max(rank - SEEK_SLACK, 0), rank + 1)

    async def newer_than(moment: datetime) -> int:
        return await _count(context, f"{query} AND StartTime > {_time_literal(moment)}")

    moment = near or datetime.now(UTC)
    count = await newer_than(moment)
    counts = 1
    if count in wanted:
        return _time_literal(moment), count
    # Gallop away from the first guess, 1 minute then 8 times further each step, to bracket the target.
    span = timedelta(minutes=1)
    if count > rank:  # too far back: go forward until few enough started after the bound
        low, low_count = moment, count
        high, high_count = moment + span, await newer_than(moment + span)
        counts += 1
        while high_count > rank:
            low, low_count = high, high_count
            span *= 8
            high = low + span
            high_count = await newer_than(high)
            counts += 1
    else:  # not far enough back yet: everything after the bound is newer than the target
        high, high_count = moment, count
        low = max(moment - span, _EPOCH)
        low_count = await newer_than(low)
        counts += 1
        while low_count < wanted.start:
            if low == _EPOCH:  # fewer invocations than the offset: none at or before the bound
                return None
            high, high_count = low, low_count
            span *= 8
            low = max(high - span, _EPOCH)
            low_count = await newer_than(low)
            counts += 1
    if high_count in wanted:
        return _time_literal(high), high_count
    while low_count not in wanted and high - low > _MICROSECOND and counts < MAX_SEEK_COUNTS:
        target = (wanted.start + wanted.stop - 1) / 2
        fraction = min(max((target - high_count) / (low_count - high_count), 0.1), 0.9)
        if counts % 3 == 0:  # a stalled interpolation (bursty start times) still halves the interval
            fraction = 0.5
        middle = high - (high - low) * fraction
        middle_count = await newer_than(middle)
        counts += 1
        if middle_count in wanted:
            return _time_literal(middle), middle_count
        if middle_count > rank:
            low, low_count = middle, middle_count
        else:
            high, high_count = middle, middle_count
    if low_count in wanted:
        return _time_literal(low), low_count
    return _time_literal(high), high_count


async def newest_page(
    *, context: InvocationContext, query: str, offset: int, limit: int
) -> list[WorkflowExecution]:
    """Rows ``offset`` to ``offset + limit`` of ``query``, newest created first: a count-based seek to
    near the offset, then one ``newest_executions`` read of at most ``SEEK_SLACK + limit`` rows."""
    if offset:
        seek = await seek_start_time(context=context, query=query, rank=offset)
        if seek is None:  # the offset is past the last invocation
            return []
        bound, newer = seek
        query = f"{query} AND StartTime <= {bound}"
        offset -= newer
    return (await newest_executions(context=context, query=query, take=offset + limit))[offset:]


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

    Newest created first (no ``sorters``, or ``-created``) and oldest first (``created``, the same rows
    counted from the end) are served by ``newest_page`` at any offset. Visibility cannot sort by another
    field, so ``triggerId``, ``subscriptionName`` and ``completed`` sort in memory, which is allowed
    while at most ``MAX_SORTED_INVOCATIONS`` invocations match (a 400 says so beyond). Only the returned
    page's memos are decoded (every one only to sort by ``subscriptionName``).
    """
    query = visibility_query(filters)
    order = parse_sorters(sorters, allowed=STATUS_SORTERS)
    if limit == 0:
        return []
    if order in ([], [("created", True)]):
        page = await newest_page(context=context, query=query, offset=offset, limit=limit)
    elif order == [("created", False)]:
        total = await _count(context, query)
        first = max(total - offset - limit, 0)
        wanted = max(total - offset - first, 0)
        page = (await newest_page(context=context, query=query, offset=first, limit=wanted))[::-1]
    else:
        page = await _sorted_in_memory(
            context=context, query=query, sorters=sorters, limit=limit, offset=offset
        )
    memos = await asyncio.gather(*(_readable_memo(execution) for execution in page))
    return [_status_item(execution, memo) for execution, memo in zip(page, memos, strict=True)]


async def _sorted_in_memory(
    *, context: InvocationContext, query: str, sorters: str | None, limit: int, offset: int
) -> list[WorkflowExecution]:
    total = await _count(context, query)
    if total > MAX_SORTED_INVOCATIONS:
        raise InvalidField(
            "sorters",
            f"{sorters!r} is sorted in memory, for at most {MAX_SORTED_INVOCATIONS} matching invocations, "
            f"and {total} match: narrow the filters (triggerId, subscriptionId) or sort by created, -created",
        )
    executions = await newest_executions(context=context, query=query, take=MAX_SORTED_INVOCATIONS)
    by_name = "subscriptionName" in (sorters or "")
    memos = (
        await asyncio.gather(*(_readable_memo(execution) for execution in executions)) if by_name else None
    )
    rows = [
        {**_status_item(execution, memos[index] if memos else {}), "execution": execution}
        for index, execution in enumerate(executions)
    ]
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
    return [row["execution"] for row in sorted_page]


async def count_invocation_statuses(*, context: InvocationContext, filters: str | None) -> int:
    """How many invocations match ``filters`` (``X-Total-Count``)."""
    return await count_invocations(context=context, query=visibility_query(filters))
