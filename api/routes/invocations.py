"""Trigger invocations: start (producers), test, complete (subscribers), read one, status list.

Thin: each route calls one function of ``event_triggers.invocations``. The router's lifespan runs a
worker inside the API process (``embedded_worker``), which lets workflow starts be eager.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Header, Query, Response, status

from api.deps import (
    CollectionDep,
    CreateInvocations,
    ManageInvocationStatus,
    ReadInvocationStatus,
    StateDep,
)
from api.state import AppState
from event_triggers import invocations as service
from event_triggers.errors import Unavailable
from event_triggers.invocation_models import (
    CompleteInvocationBody,
    Invocation,
    InvocationDetail,
    StartInvocationBody,
    TestInvocationBody,
)
from event_triggers.invocations import MAX_WAIT_SECONDS, InvocationContext
from event_triggers.keys import load_server_key
from worker import delivery_worker

logger = logging.getLogger(__name__)


async def invocation_context(state: AppState) -> InvocationContext:
    """The shared context, built once the Temporal client exists (the API may start before Temporal)."""
    if state.invocations is None:
        state.invocations = InvocationContext(
            settings=state.settings,
            store=state.store,
            catalog=state.catalog,
            client=await state.temporal.client(),
            server_key=load_server_key(state.settings),
        )
    return state.invocations


@asynccontextmanager
async def embedded_worker(app: FastAPI) -> AsyncIterator[None]:
    """Run a worker in this process when enabled and Temporal answers; eager starts need one here."""
    state: AppState = app.state.app_state
    async with AsyncExitStack() as stack:
        if state.settings.embedded_worker:
            try:
                context = await invocation_context(state)
            except Unavailable as exc:
                logger.warning("no embedded worker, Temporal is unreachable: %s", exc)
            else:
                worker = await stack.enter_async_context(
                    delivery_worker(context.client, state.settings, store=state.store, catalog=state.catalog)
                )
                running = asyncio.create_task(worker.run())

                async def stop() -> None:
                    await worker.shutdown()
                    await running

                stack.push_async_callback(stop)
        yield


router = APIRouter(prefix="/trigger-invocations/v1", tags=["Invocations"], lifespan=embedded_worker)


async def get_context(state: StateDep) -> InvocationContext:
    return await invocation_context(state)


ContextDep = Annotated[InvocationContext, Depends(get_context)]


def _invocations_response(invocations: list[Invocation]) -> Any:
    if not invocations:
        return Response(status_code=status.HTTP_204_NO_CONTENT)
    return [item.model_dump(exclude_none=True) for item in invocations]


@router.post(
    "/start",
    dependencies=[CreateInvocations],
    response_model=list[Invocation],
    response_model_exclude_none=True,
    responses={204: {"description": "no enabled subscription matches the event"}},
)
async def start_invocations(
    body: StartInvocationBody,
    context: ContextDep,
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
) -> Any:
    invocations = await service.start_invocations(
        context=context,
        trigger_id=body.triggerId,
        payload=body.input,
        content_json=body.contentJson,
        idempotency_key=idempotency_key,
    )
    return _invocations_response(invocations)


@router.post(
    "/test",
    dependencies=[ManageInvocationStatus],
    response_model=list[Invocation],
    response_model_exclude_none=True,
    responses={204: {"description": "no subscription of the trigger matches"}},
)
async def start_test_invocations(body: TestInvocationBody, context: ContextDep) -> Any:
    invocations = await service.start_test_invocations(
        context=context,
        trigger_id=body.triggerId,
        payload=body.input,
        content_json=body.contentJson,
        subscription_ids=body.subscriptionIds,
    )
    return _invocations_response(invocations)


@router.get("/status", dependencies=[ReadInvocationStatus])
async def list_invocation_statuses(
    context: ContextDep, params: CollectionDep, response: Response
) -> list[dict[str, Any]]:
    page, total = await service.list_invocation_statuses(
        context=context,
        filters=params.filters,
        sorters=params.sorters,
        limit=params.limit,
        offset=params.offset,
    )
    params.report_total(response, total)
    return [dict(item) for item in page]


@router.post("/{invocation_id}/complete", status_code=status.HTTP_204_NO_CONTENT)
async def complete_invocation(invocation_id: str, body: CompleteInvocationBody, context: ContextDep) -> None:
    """Authenticated by the invocation secret, which the subscriber received in ``_metadata``."""
    await service.complete_invocation(
        context=context,
        invocation_id=invocation_id,
        secret=body.secret,
        output=body.output,
        error=body.error,
    )


@router.get("/{invocation_id}", dependencies=[ReadInvocationStatus])
async def get_invocation(
    invocation_id: str,
    context: ContextDep,
    wait_seconds: Annotated[float, Query(alias="waitSeconds", ge=0, le=MAX_WAIT_SECONDS)] = 0,
) -> InvocationDetail:
    return await service.get_invocation(
        context=context, invocation_id=invocation_id, wait_seconds=wait_seconds
    )
