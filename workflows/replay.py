"""``ReplayWorkflow``: redeliver every finished invocation that matches a filter, paced, each at most once.

It reads the originals from Temporal visibility a page at a time (an activity; the cursor is the page
token), redelivers them in batches of a second's worth (another activity) with a durable timer between
batches, keeps its progress in its memo, and continues as new before its history grows large, carrying
the cursor and the counts. Each redelivery's id is derived from (replay, original), so a batch that is
retried, or a replay run again under the same id, starts nothing twice.
"""

from __future__ import annotations

import contextlib
import math
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from event_triggers.replay_models import (
        LIST_ORIGINALS,
        MEMO_REPLAY,
        REDELIVER_ORIGINALS,
        REPLAY_WORKFLOW_TYPE,
        UPDATE_CANCEL,
        NotRedelivered,
        Replay,
        ReplayBatch,
        ReplayBatchOutcome,
        ReplayCursor,
        ReplayPage,
        ReplayPageRequest,
        ReplayRequest,
        ReplayStatus,
    )

LIST_TIMEOUT = timedelta(seconds=30)
REDELIVER_TIMEOUT = timedelta(minutes=2)
"""A batch is at most ``PAGE_SIZE`` redeliveries, one after the other."""
LIST_RETRY = RetryPolicy(maximum_interval=timedelta(minutes=1))
"""Visibility out of reach pauses a replay, it does not end it."""
REDELIVER_RETRY = RetryPolicy(maximum_interval=timedelta(seconds=10), maximum_attempts=5)
"""Then a batch is tried one original at a time: only an original that cannot be started counts as failed."""


@workflow.defn(name=REPLAY_WORKFLOW_TYPE, sandboxed=False)
class ReplayWorkflow:
    @workflow.init
    def __init__(self, request: ReplayRequest) -> None:
        self._progress = request.progress
        self._cancel_requested = False

    @workflow.run
    async def run(self, request: ReplayRequest) -> Replay:
        cursor = request.cursor
        batch_size = max(1, min(math.ceil(request.rate), request.page_size))
        while not self._cancel_requested and (cursor.pending or not cursor.listed_all):
            if not cursor.pending:
                cursor = await self._next_page(request, cursor)
                continue
            batch = cursor.pending[:batch_size]
            began = workflow.now()
            self._count(await self._redeliver(request.replay_id, batch))
            cursor = cursor.model_copy(update={"pending": cursor.pending[len(batch) :]})
            await self._pace(until=began + timedelta(seconds=len(batch) / request.rate))
            if not self._cancel_requested and _history_full(request):
                workflow.continue_as_new(
                    request.model_copy(update={"progress": self._progress, "cursor": cursor}),
                    memo={MEMO_REPLAY: self._progress.model_dump(mode="json")},
                )
        if cursor.listed_all and not cursor.pending:
            self._set(status=ReplayStatus.COMPLETED, total=cursor.listed)
        else:
            self._set(status=ReplayStatus.CANCELED)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._progress

    @workflow.update(name=UPDATE_CANCEL)
    async def cancel(self) -> Replay:
        """Stop once the batch in flight is done; answers the final progress."""
        self._cancel_requested = True
        await workflow.wait_condition(lambda: self._progress.status is not ReplayStatus.RUNNING)
        return self._progress

    @cancel.validator
    def _accept_cancel(self) -> None:
        """A finished replay has nothing to cancel (the API answers 409)."""
        if self._progress.status is not ReplayStatus.RUNNING:
            raise ApplicationError(f"replay is already {self._progress.status.value}", type="ReplayFinished")

    async def _next_page(self, request: ReplayRequest, cursor: ReplayCursor) -> ReplayCursor:
        page: ReplayPage = await workflow.execute_activity(
            LIST_ORIGINALS,
            ReplayPageRequest(
                filter=request.filter, page_size=request.page_size, page_token=cursor.page_token
            ),
            result_type=ReplayPage,
            start_to_close_timeout=LIST_TIMEOUT,
            retry_policy=LIST_RETRY,
        )
        listed = cursor.listed + len(page.original_ids)
        # visibility counted when the replay started; originals that closed late into the window add up
        self._set(total=max(self._progress.total, listed))
        return ReplayCursor(
            page_token=page.next_page_token,
            pending=page.original_ids,
            listed=listed,
            listed_all=page.next_page_token is None,
        )

    async def _redeliver(self, replay_id: str, original_ids: list[str]) -> ReplayBatchOutcome:
        try:
            outcome: ReplayBatchOutcome = await workflow.execute_activity(
                REDELIVER_ORIGINALS,
                ReplayBatch(replay_id=replay_id, original_ids=original_ids),
                result_type=ReplayBatchOutcome,
                start_to_close_timeout=REDELIVER_TIMEOUT,
                retry_policy=REDELIVER_RETRY,
            )
            return outcome
        except ActivityError as error:
            if len(original_ids) == 1:
                reason = str(error.cause or error)
                return ReplayBatchOutcome(
                    not_redelivered=[NotRedelivered(original_id=original_ids[0], reason=reason)]
                )
            outcomes = [await self._redeliver(replay_id, [original]) for original in original_ids]
            return ReplayBatchOutcome(
                redelivered=[item for outcome in outcomes for item in outcome.redelivered],
                not_redelivered=[item for outcome in outcomes for item in outcome.not_redelivered],
            )

    def _count(self, outcome: ReplayBatchOutcome) -> None:
        self._set(
            replayed=self._progress.replayed + len(outcome.redelivered),
            failed=self._progress.failed + len(outcome.not_redelivered),
        )

    async def _pace(self, *, until: datetime) -> None:
        """At most ``rate`` redeliveries a second: a durable timer, cut short by a cancel."""
        remaining = until - workflow.now()
        if remaining > timedelta(0):
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(lambda: self._cancel_requested, timeout=remaining)

    def _set(self, **changes: object) -> None:
        """Change the progress and publish it in the memo (read by ``GET .../replays/{id}``)."""
        self._progress = self._progress.model_copy(update=changes)
        workflow.upsert_memo({MEMO_REPLAY: self._progress.model_dump(mode="json")})


def _history_full(request: ReplayRequest) -> bool:
    info = workflow.info()
    return info.is_continue_as_new_suggested() or info.get_current_history_length() >= request.history_limit
