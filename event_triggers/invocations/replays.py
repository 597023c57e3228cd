"""Replay every finished invocation that matches a filter: start, read and cancel a ``ReplayWorkflow``.

The workflow (``workflows/replay.py``) pages through Temporal visibility and redelivers each original
with ``redeliver_invocation`` (``activities/replays.py``); this module talks to Temporal only through
the client. A replay's progress is its memo (``MEMO_REPLAY``), readable without a worker.
"""

from __future__ import annotations

import base64
import logging
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio.client import (
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.service import RPCError, RPCStatusCode

from event_triggers.errors import Conflict, DomainError, InvalidField, Unavailable
from event_triggers.invocation_models import InvocationStatus
from event_triggers.invocations.context import InvocationContext
from event_triggers.invocations.reads import (
    count_invocations,
    describe_workflow,
    invocation_query,
    status_clause,
)
from event_triggers.invocations.redelivery import redeliver_invocation
from event_triggers.replay_models import (
    MEMO_REPLAY,
    REPLAY_WORKFLOW_TYPE,
    UPDATE_CANCEL,
    NotRedelivered,
    Redelivered,
    Replay,
    ReplayBatch,
    ReplayBatchOutcome,
    ReplayFilter,
    ReplayPage,
    ReplayPageRequest,
    ReplayRequest,
    ReplayStatus,
)

CANCEL_RPC_TIMEOUT = timedelta(seconds=30)
"""A cancel waits for the batch in flight (at most a second's worth of redeliveries) to end."""

logger = logging.getLogger(__name__)


def _visibility_time(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _in_utc(field: str, value: datetime) -> datetime:
    """``value`` in UTC; 400 naming ``field`` for a time with no UTC date (0001-01-01T00:00:00+14:00)."""
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise InvalidField(
            field, f"{value.isoformat()} is out of range: its UTC time must fall in years 1 to 9999"
        ) from None


def replay_query(replay_filter: ReplayFilter) -> str:
    """The List Filter of a replay's originals: every filter is in the query, no list is capped."""
    statuses = " OR ".join(status_clause(status) for status in replay_filter.statuses)
    return " AND ".join(
        [
            invocation_query(
                trigger_id=replay_filter.trigger_id, subscription_id=replay_filter.subscription_id
            ),
            f"({statuses})",
            f'StartTime >= "{_visibility_time(replay_filter.created_from)}"',
            f'StartTime < "{_visibility_time(replay_filter.created_to)}"',
            f'CloseTime < "{_visibility_time(replay_filter.closed_before)}"',
        ]
    )


def _checked_statuses(statuses: Sequence[InvocationStatus]) -> list[InvocationStatus]:
    if not statuses:
        raise InvalidField("statuses", "name at least one status")
    unfinished = [status.value for status in statuses if not status.finished]
    if unfinished:
        raise InvalidField(
            "statuses", f"{unfinished[0]} is not a final status (COMPLETED, FAILED or TIMED_OUT)"
        )
    return list(dict.fromkeys(statuses))


async def _check_scope(
    context: InvocationContext, *, trigger_id: str | None, subscription_id: str | None
) -> None:
    """400 for a trigger or subscription that does not exist (a body field, as ``/test`` answers)."""
    if trigger_id is not None:
        context.catalog.require(trigger_id)
    if subscription_id is None:
        return
    subscription = await context.store.get_subscription(subscription_id)
    if subscription is None:
        raise InvalidField("subscriptionId", f"unknown subscription {subscription_id!r}")
    if trigger_id is not None and subscription.triggerId != trigger_id:
        raise InvalidField(
            "subscriptionId", f"{subscription_id} is not a subscription of trigger {trigger_id}"
        )


async def start_replay(
    *,
    context: InvocationContext,
    trigger_id: str | None,
    subscription_id: str | None,
    statuses: Sequence[InvocationStatus],
    created_from: datetime,
    created_to: datetime,
) -> Replay:
    """Start a ``ReplayWorkflow`` over the finished invocations created in [from, to) with one of
    ``statuses``; ``total`` is how many visibility counts now."""
    checked = _checked_statuses(statuses)
    created_from, created_to = _in_utc("from", created_from), _in_utc("to", created_to)
    if created_from >= created_to:
        raise InvalidField("from", "must be before to")
    await _check_scope(context, trigger_id=trigger_id, subscription_id=subscription_id)
    replay_filter = ReplayFilter(
        trigger_id=trigger_id,
        subscription_id=subscription_id,
        statuses=checked,
        created_from=created_from,
        created_to=created_to,
        closed_before=datetime.now(UTC),
    )
    replay_id = str(uuid.uuid4())
    total = await count_invocations(context=context, query=replay_query(replay_filter))
    progress = Replay(id=replay_id, status=ReplayStatus.RUNNING, total=total, replayed=0, failed=0)
    request = ReplayRequest(
        replay_id=replay_id, filter=replay_filter, rate=context.settings.replay_rate, progress=progress
    )
    try:
        await context.client.start_workflow(
            REPLAY_WORKFLOW_TYPE,
            request,
            id=replay_id,
            task_queue=context.settings.task_queue,
            memo={MEMO_REPLAY: progress.model_dump(mode="json")},
            static_summary=f"replay of {total} invocation(s) ({', '.join(checked)})",
            task_timeout=context.settings.workflow_task_timeout,
        )
    except RPCError as exc:
        raise Unavailable(f"cannot start the replay: {exc.message}") from exc
    return progress


def _replay_of(description: WorkflowExecutionDescription, memo: Mapping[str, Any]) -> Replay:
    """The replay's memo; one that stopped without saying so (terminated in the Web UI) is CANCELED."""
    replay = Replay.model_validate(memo[MEMO_REPLAY])
    stopped = description.status not in (None, WorkflowExecutionStatus.RUNNING)
    if stopped and replay.status is ReplayStatus.RUNNING:
        return replay.model_copy(update={"status": ReplayStatus.CANCELED})
    return replay


async def get_replay(*, context: InvocationContext, replay_id: str) -> Replay:
    """Where a replay stands; 404 for an unknown id (an invocation's id included)."""
    description = await describe_workflow(
        context.client.get_workflow_handle(replay_id), noun="replay", workflow_type=REPLAY_WORKFLOW_TYPE
    )
    return _replay_of(description, await description.memo())


async def cancel_replay(*, context: InvocationContext, replay_id: str) -> Replay:
    """Stop a running replay once its batch in flight is done; answers it CANCELED, counts kept.

    409 for a replay that has already finished."""
    replay = await get_replay(context=context, replay_id=replay_id)
    if replay.status is not ReplayStatus.RUNNING:
        raise Conflict(f"replay {replay_id} is already {replay.status.value}")
    handle = context.client.get_workflow_handle(replay_id)
    try:
        return await handle.execute_update(UPDATE_CANCEL, result_type=Replay, rpc_timeout=CANCEL_RPC_TIMEOUT)
    except WorkflowUpdateFailedError as exc:
        raise Conflict(f"replay {replay_id}: {exc.cause or exc}") from None
    except WorkflowUpdateRPCTimeoutOrCancelledError:
        raise Unavailable("no worker took the cancel in time; retry", retry_after=1) from None
    except RPCError as exc:
        if exc.status is RPCStatusCode.NOT_FOUND:  # it finished since we read it
            finished = await get_replay(context=context, replay_id=replay_id)
            raise Conflict(f"replay {replay_id} is already {finished.status.value}") from None
        raise Unavailable(f"cannot cancel the replay: {exc.message}") from exc


async def list_originals(*, context: InvocationContext, request: ReplayPageRequest) -> ReplayPage:
    """One page of a replay's originals; the page token travels base64-encoded through the workflow."""
    executions = context.client.list_workflows(
        replay_query(request.filter),
        page_size=request.page_size,
        next_page_token=base64.b64decode(request.page_token) if request.page_token else None,
    )
    try:
        await executions.fetch_next_page()
    except RPCError as exc:
        raise Unavailable(f"cannot list invocations: {exc.message}") from exc
    page = list(executions.current_page or [])
    next_page_token = executions.next_page_token if page else None
    return ReplayPage(
        original_ids=[execution.id for execution in page],
        next_page_token=base64.b64encode(next_page_token).decode() if next_page_token else None,
    )


async def redeliver_originals(*, context: InvocationContext, batch: ReplayBatch) -> ReplayBatchOutcome:
    """Redeliver each original once for this replay: the new invocation's id is derived from (replay,
    original), so a repeat (a retried activity, a resumed replay) starts nothing new.

    An original that cannot be redelivered (its subscription deleted, its trigger gone, expired from
    visibility) is reported, not raised; ``Unavailable`` (Temporal) is raised, so the batch is retried."""
    outcome = ReplayBatchOutcome()
    for original_id in batch.original_ids:
        try:
            invocation = await redeliver_invocation(
                context=context,
                invocation_id=original_id,
                idempotency_key=f"replay {batch.replay_id} of {original_id}",
            )
        except Unavailable:
            raise
        except DomainError as exc:
            logger.warning("replay %s: invocation %s not redelivered: %s", batch.replay_id, original_id, exc)
            outcome.not_redelivered.append(NotRedelivered(original_id=original_id, reason=exc.message))
            continue
        outcome.redelivered.append(Redelivered(original_id=original_id, invocation_id=invocation.id))
    return outcome
