"""Log in, log out, and the overview page."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Form, Request, Response

from api.deps import StateDep, StoreDep
from api.ui.rendering import UiRoute, redirect, render
from api.ui.session import ChangeSessionDep, SessionDep, check_origin, end_session, start_session
from event_triggers.clients import issue_client_token
from event_triggers.errors import DomainError, Unavailable
from event_triggers.invocation_models import InvocationStatus
from event_triggers.invocations import reads
from event_triggers.store import Subscription

router = APIRouter(route_class=UiRoute)

RECENT_FAILURES = 10


def _safe_next(target: str) -> str:
    """Only a page of this UI: never an open redirect to another site."""
    return target if target.startswith("/ui/") and not target.startswith("/ui//") else "/ui/"


@router.get("/login")
async def login_page(request: Request, next: str = "/ui/") -> Response:
    return render(request, "login.html", {"next": _safe_next(next), "client_id": ""}, session=None)


@router.post("/login")
async def login(
    request: Request,
    state: StateDep,
    client_id: Annotated[str, Form()] = "",
    client_secret: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/ui/",
) -> Response:
    """The client credentials grant, with the token kept in an HttpOnly cookie."""
    check_origin(request)
    try:
        issued = await issue_client_token(
            store=state.store,
            settings=state.settings,
            client_id=client_id,
            client_secret=client_secret,
            requested_scope=None,
        )
    except DomainError as refused:
        return render(
            request,
            "login.html",
            {"next": _safe_next(next), "client_id": client_id, "error": refused.message},
            session=None,
        )
    response = redirect(_safe_next(next))
    start_session(response, request=request, token=issued.access_token, expires_in=issued.expires_in)
    return response


@router.post("/logout")
async def logout(request: Request, session: ChangeSessionDep) -> Response:
    response = redirect("/ui/login")
    end_session(response, request=request)
    return response


@router.get("/")
async def overview(request: Request, session: SessionDep, state: StateDep, store: StoreDep) -> Response:
    async def subscriptions() -> list[Subscription]:
        return await store.list_subscriptions(secrets=False) if session.can_read_subscriptions else []

    async def invocations() -> tuple[dict[str, int], list[reads.InvocationSummary], str | None]:
        """Counts by status and the latest failures, or why Temporal could not say."""
        if not session.can_read_invocations:
            return {}, [], None
        try:
            context = await state.invocation_context()
            statuses = list(InvocationStatus)
            totals, failed = await asyncio.gather(
                asyncio.gather(
                    *(
                        reads.count_invocations(context=context, query=reads.invocation_query(status=item))
                        for item in statuses
                    )
                ),
                reads.list_invocations(
                    context=context, status=InvocationStatus.FAILED, page_size=RECENT_FAILURES
                ),
            )
        except Unavailable as unavailable:
            return {}, [], unavailable.message
        return {item.value: total for item, total in zip(statuses, totals, strict=True)}, failed.items, None

    listed, (counts, failures, problem) = await asyncio.gather(subscriptions(), invocations())
    return render(
        request,
        "overview.html",
        {
            "section": "overview",
            "subscription_count": len(listed),
            "disabled": [item for item in listed if not item.enabled],
            "counts": counts,
            "failures": failures,
            "problem": problem,
            "trigger_count": len(state.catalog.all()),
        },
        session=session,
    )
