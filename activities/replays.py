"""The activities of ``ReplayWorkflow``: read a page of originals from visibility, redeliver a batch.

Both run on the domain functions of ``event_triggers.invocations.replays`` with the worker's
``InvocationContext`` (its Temporal client, store and catalog).
"""

from __future__ import annotations

from temporalio import activity

from event_triggers.invocations import replays
from event_triggers.invocations.context import InvocationContext
from event_triggers.replay_models import (
    LIST_ORIGINALS,
    REDELIVER_ORIGINALS,
    ReplayBatch,
    ReplayBatchOutcome,
    ReplayPage,
    ReplayPageRequest,
)


class ReplayActivities:
    def __init__(self, context: InvocationContext) -> None:
        self._context = context

    @activity.defn(name=LIST_ORIGINALS)
    async def list_originals(self, request: ReplayPageRequest) -> ReplayPage:
        """A page through visibility, with the filters in the query (no 2,000 cap as the status list)."""
        return await replays.list_originals(context=self._context, request=request)

    @activity.defn(name=REDELIVER_ORIGINALS)
    async def redeliver_originals(self, batch: ReplayBatch) -> ReplayBatchOutcome:
        """Idempotent: a retry of a batch part-way through starts only what the first try did not."""
        return await replays.redeliver_originals(context=self._context, batch=batch)
