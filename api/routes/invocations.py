"""Trigger invocations: start (producers), test, complete (subscribers), read one, status list.

Thin: each route calls one function of ``event_triggers.invocations``; the context comes from the
app state (``api.main``, which also runs the embedded worker).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Response, status

from api.deps import (
    CollectionDep,
    ContextDep,
    CreateInvocations,
    ManageInvocationStatus,
    ReadInvocationStatus,
)
from api.openapi import AUTHENTICATED, WITH_BODY, error_responses
from event_triggers.invocation_models import (
    CompleteInvocationBody,
    DeliveryAttempt,
    Invocation,
    InvocationDetail,
    StartedInvocation,
    StartInvocationBody,
    TestInvocationBody,
)
from event_triggers.invocations import completion, reads, redelivery, start
from event_triggers.invocations.reads import MAX_START_WAIT_SECONDS, MAX_WAIT_SECONDS

router = APIRouter(prefix="/trigger-invocations/v1", tags=["Invocations"])


def _invocations_response(invocations: Sequence[Invocation]) -> Any:
    if not invocations:
        return Response(status_code=status.HTTP_204_NO_CONTENT)
    return [item.model_dump(exclude_none=True) for item in invocations]


@router.post(
    "/start",
    dependencies=[CreateInvocations],
    response_model=list[StartedInvocation],
    response_model_exclude_none=True,
    responses={
        204: {"description": "no enabled subscription matches the event"},
        **error_responses(*AUTHENTICATED, *WITH_BODY, 503),
    },
)
async def start_invocations(
    body: StartInvocationBody,
    context: ContextDep,
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
    wait_seconds: Annotated[
        float | None,
        Query(
            alias="waitSeconds",
            gt=0,
            le=MAX_START_WAIT_SECONDS,
            description=(
                "Extension: wait up to this many seconds for the invocations to finish and answer each "
                "with its outcome (`status`, `output`, `error`); one still running is answered without "
                "them (read it with `GET /{id}`)."
            ),
        ),
    ] = None,
) -> Any:
    if wait_seconds is None:
        invocations: Sequence[Invocation] = await start.start_invocations(
            context=context,
            trigger_id=body.triggerId,
            payload=body.input,
            content_json=body.contentJson,
            idempotency_key=idempotency_key,
        )
    else:
        invocations = await start.start_and_wait(
            context=context,
            trigger_id=body.triggerId,
            payload=body.input,
            content_json=body.contentJson,
            idempotency_key=idempotency_key,
            wait_seconds=wait_seconds,
        )
    return _invocations_response(invocations)


@router.post(
    "/test",
    dependencies=[ManageInvocationStatus],
    response_model=list[Invocation],
    response_model_exclude_none=True,
    responses={
        204: {"description": "no subscription of the trigger matches"},
        **error_responses(*AUTHENTICATED, *WITH_BODY, 503),
    },
)
async def start_test_invocations(body: TestInvocationBody, context: ContextDep) -> Any:
    invocations = await start.start_test_invocations(
        context=context,
        trigger_id=body.triggerId,
        payload=body.input,
        content_json=body.contentJson,
        subscription_ids=body.subscriptionIds,
    )
    return _invocations_response(invocations)


@router.get(
    "/status", dependencies=[ReadInvocationStatus], responses=error_responses(*AUTHENTICATED, 400, 503)
)
async def list_invocation_statuses(
    context: ContextDep, params: CollectionDep, response: Response
) -> list[dict[str, Any]]:
    """Paged through Temporal visibility with the filters in its query (docs/ui.md, "Fast lists")."""
    page = await reads.list_invocation_statuses(
        context=context,
        filters=params.filters,
        sorters=params.sorters,
        limit=params.limit,
        offset=params.offset,
    )
    if params.count:
        params.report_total(
            response, await reads.count_invocation_statuses(context=context, filters=params.filters)
        )
    return [dict(item) for item in page]


@router.post(
    "/{invocation_id}/complete",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(*WITH_BODY, 401, 404, 409, 410, 503),
)
async def complete_invocation(invocation_id: str, body: CompleteInvocationBody, context: ContextDep) -> None:
    """Authenticated by the invocation secret, which the subscriber received in ``_metadata``."""
    await completion.complete_invocation(
        context=context,
        invocation_id=invocation_id,
        secret=body.secret,
        output=body.output,
        error=body.error,
    )


@router.post(
    "/{invocation_id}/redeliver",
    dependencies=[ManageInvocationStatus],
    response_model_exclude_none=True,
    responses=error_responses(*AUTHENTICATED, 404, 409, 503),
)
async def redeliver_invocation(invocation_id: str, context: ContextDep) -> Invocation:
    """A new invocation of the same input to the same subscription (an extension: docs/operator-loop.md)."""
    return await redelivery.redeliver_invocation(context=context, invocation_id=invocation_id)


@router.get(
    "/{invocation_id}/attempts",
    dependencies=[ReadInvocationStatus],
    responses=error_responses(*AUTHENTICATED, 404, 503),
)
async def list_invocation_attempts(invocation_id: str, context: ContextDep) -> list[DeliveryAttempt]:
    """Every delivery attempt, oldest first (an extension: docs/operator-loop.md)."""
    return await reads.list_attempts(context=context, invocation_id=invocation_id)


@router.get(
    "/{invocation_id}",
    dependencies=[ReadInvocationStatus],
    responses=error_responses(*AUTHENTICATED, 400, 404, 503),
)
async def get_invocation(
    invocation_id: str,
    context: ContextDep,
    wait_seconds: Annotated[float, Query(alias="waitSeconds", ge=0, le=MAX_WAIT_SECONDS)] = 0,
) -> InvocationDetail:
    return await reads.get_invocation(context=context, invocation_id=invocation_id, wait_seconds=wait_seconds)
