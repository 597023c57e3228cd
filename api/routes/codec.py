"""The Temporal codec server protocol over the payload encryption keys, for the CLI and the Web UI.

``/codec`` authorises with a bearer token (``temporal workflow show --codec-endpoint ... --codec-auth``).
A browser cannot attach one of our tokens to the Web UI's codec calls, so ``/ui/codec`` serves the same
protocol to the Administration UI's session: with ``TEMPORAL_CODEC_INCLUDE_CREDENTIALS`` the Web UI's
fetches carry the session cookie (path ``/ui``), and whoever is logged in with invocation-status read
access sees decrypted payloads, as the Administration UI shows them.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Request

from api.deps import ReadInvocationStatus, StateDep
from api.openapi import AUTHENTICATED, WITH_BODY, error_responses
from api.ui.session import SessionDep, check_origin
from event_triggers.errors import NotFound
from event_triggers.security.client_credentials import INVOCATION_STATUS_READ
from event_triggers.security.payload_codec import codec_endpoint_transform
from event_triggers.temporal import payload_codec


async def web_ui_session(request: Request, state: StateDep, session: SessionDep) -> None:
    """A logged-in session allowed to read invocations, called from this origin or a Web UI origin
    (``EVENT_TRIGGERS_CODEC_CORS_ORIGINS``).

    CORS already keeps other origins from reading the answer; refusing them here as well means a page
    elsewhere cannot even make the API decrypt on its behalf."""
    check_origin(request, also_allowed=state.settings.codec_cors_origins)
    session.require(INVOCATION_STATUS_READ)


router = APIRouter(
    prefix="/codec",
    tags=["Temporal codec"],
    dependencies=[ReadInvocationStatus],
    responses=error_responses(*AUTHENTICATED, *WITH_BODY, 404),
)
web_ui_router = APIRouter(prefix="/ui/codec", include_in_schema=False, dependencies=[Depends(web_ui_session)])


async def _transform(
    state: StateDep, body: dict[str, Any], direction: Literal["encode", "decode"]
) -> dict[str, Any]:
    codec = payload_codec(state.settings)
    if codec is None:
        raise NotFound("payload encryption is off (EVENT_TRIGGERS_PAYLOAD_ENCRYPTION_KEYS is not set)")
    return await codec_endpoint_transform(codec, body, direction=direction)


@router.post("/encode")
@web_ui_router.post("/encode")
async def encode(state: StateDep, body: dict[str, Any]) -> dict[str, Any]:
    """Encrypts payloads, for ``temporal workflow`` commands that send input (``--codec-endpoint``)."""
    return await _transform(state, body, "encode")


@router.post("/decode")
@web_ui_router.post("/decode")
async def decode(state: StateDep, body: dict[str, Any]) -> dict[str, Any]:
    """Decrypts payloads for the Web UI and the CLI; needs invocation-status read access."""
    return await _transform(state, body, "decode")
