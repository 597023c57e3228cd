"""Bulk replay of finished invocations (an extension: docs/operator-loop.md, "Replay everything that failed").

Its own router, included before the invocation routes: ``/replays/{id}`` must not be read as an
invocation id followed by an action.
"""

from __future__ import annotations

from fastapi import APIRouter, status

from api.deps import ContextDep, ManageInvocationStatus, ReadInvocationStatus
from api.openapi import AUTHENTICATED, WITH_BODY, error_responses
from event_triggers.invocations import replays
from event_triggers.replay_models import Replay, ReplayBody

router = APIRouter(prefix="/trigger-invocations/v1/replays", tags=["Invocations"])


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    dependencies=[ManageInvocationStatus],
    responses=error_responses(*AUTHENTICATED, *WITH_BODY, 503),
)
async def start_replay(body: ReplayBody, context: ContextDep) -> Replay:
    """Redeliver every finished invocation that matches, at ``EVENT_TRIGGERS_REPLAY_RATE`` per second."""
    return await replays.start_replay(
        context=context,
        trigger_id=body.triggerId,
        subscription_id=body.subscriptionId,
        statuses=body.statuses,
        created_from=body.from_,
        created_to=body.to,
    )


@router.get(
    "/{replay_id}", dependencies=[ReadInvocationStatus], responses=error_responses(*AUTHENTICATED, 404, 503)
)
async def get_replay(replay_id: str, context: ContextDep) -> Replay:
    return await replays.get_replay(context=context, replay_id=replay_id)


@router.delete(
    "/{replay_id}",
    status_code=status.HTTP_202_ACCEPTED,
    dependencies=[ManageInvocationStatus],
    responses=error_responses(*AUTHENTICATED, 404, 409, 503),
)
async def cancel_replay(replay_id: str, context: ContextDep) -> Replay:
    """Stops the replay after its batch in flight; answers it CANCELED with its counts (409 once finished)."""
    return await replays.cancel_replay(context=context, replay_id=replay_id)
