"""Invocations: the list (filtered by trigger, subscription and status; newest first), one invocation with
its delivery attempts, and its redelivery."""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac

from fastapi import APIRouter, Request, Response

from api.deps import CatalogDep, StateDep
from api.state import AppState
from api.ui.rendering import UiRoute, redirect, render
from api.ui.session import ChangeSessionDep, SessionDep, UiSession
from event_triggers.errors import InvalidField, Unavailable
from event_triggers.invocation_models import DeliveryAttempt, InvocationStatus
from event_triggers.invocations import reads, redelivery
from event_triggers.security.client_credentials import INVOCATION_STATUS_MANAGE, INVOCATION_STATUS_READ

router = APIRouter(route_class=UiRoute)

PAGE_SIZE = 50


def encode_page_token(token: bytes, *, key: bytes) -> str:
    """Temporal's page token for a link, signed: a forged one never reaches Temporal."""
    signature = hmac.new(key, b"page\0" + token, hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(signature + token).decode()


def decode_page_token(text: str, *, key: bytes) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(text)
    except (binascii.Error, ValueError):
        raw = b""
    signature, token = raw[:16], raw[16:]
    expected = hmac.new(key, b"page\0" + token, hashlib.sha256).digest()[:16]
    if not token or not hmac.compare_digest(signature, expected):
        raise InvalidField("page", "is not a page of this list")
    return token


def temporal_workflow_url(base_url: str | None, *, namespace: str, workflow_id: str) -> str | None:
    """The invocation's workflow in the Temporal Web UI, when its address is configured."""
    if not base_url:
        return None
    return f"{base_url.rstrip('/')}/namespaces/{namespace}/workflows/{workflow_id}"


async def _subscription_names(*, session: UiSession, state: AppState) -> dict[str, str]:
    """The subscription filter's choices, for a client that may read subscriptions."""
    return await state.store.subscription_names() if session.can_read_subscriptions else {}


@router.get("/invocations")
async def list_invocations(
    request: Request,
    session: SessionDep,
    state: StateDep,
    catalog: CatalogDep,
    triggerId: str = "",
    subscriptionId: str = "",
    status: str = "",
    page: str = "",
) -> Response:
    session.require(INVOCATION_STATUS_READ)
    if status and status not in InvocationStatus.__members__:
        raise InvalidField("status", f"'{status}' is not one of {', '.join(InvocationStatus)}")
    context = await state.invocation_context()
    listing, subscriptions = await asyncio.gather(
        reads.list_invocations(
            context=context,
            trigger_id=triggerId or None,
            subscription_id=subscriptionId or None,
            status=InvocationStatus(status) if status else None,
            page_size=PAGE_SIZE,
            page_token=decode_page_token(page, key=state.token_signing_key) if page else None,
        ),
        _subscription_names(session=session, state=state),
    )
    following = listing.next_page_token
    return render(
        request,
        "invocations.html",
        {
            "section": "invocations",
            "items": listing.items,
            "first_page": not page,
            "next_page": encode_page_token(following, key=state.token_signing_key) if following else None,
            "filters": {"triggerId": triggerId, "subscriptionId": subscriptionId, "status": status},
            "triggers": catalog.all(),
            "subscriptions": subscriptions,
            "statuses": [item.value for item in InvocationStatus],
        },
        session=session,
    )


@router.get("/invocations/{invocation_id}")
async def show_invocation(
    invocation_id: str, request: Request, session: SessionDep, state: StateDep
) -> Response:
    session.require(INVOCATION_STATUS_READ)
    context = await state.invocation_context()
    record = await reads.get_invocation_record(context=context, invocation_id=invocation_id)
    attempts: list[DeliveryAttempt] | None
    try:
        attempts = await reads.list_attempts(context=context, invocation_id=invocation_id)
    except Unavailable:  # no worker answered the query: the rest of the page still shows
        attempts = None
    return render(
        request,
        "invocation.html",
        {
            "section": "invocations",
            "invocation": record.detail,
            "input": record.input,
            "attempts": attempts,
            "temporal_url": temporal_workflow_url(
                state.settings.temporal_ui_url,
                namespace=state.settings.temporal_namespace,
                workflow_id=invocation_id,
            ),
        },
        session=session,
    )


@router.post("/invocations/{invocation_id}/redeliver")
async def redeliver(invocation_id: str, session: ChangeSessionDep, state: StateDep) -> Response:
    """A new invocation of the same input to the subscription as configured now; its page opens."""
    session.require(INVOCATION_STATUS_MANAGE)
    context = await state.invocation_context()
    started = await redelivery.redeliver_invocation(context=context, invocation_id=invocation_id)
    return redirect(f"/ui/invocations/{started.id}")
