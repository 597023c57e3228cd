from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter

from api.deps import ReadInvocationStatus, StateDep
from api.openapi import AUTHENTICATED, WITH_BODY, error_responses
from event_triggers.errors import NotFound
from event_triggers.security.payload_codec import codec_endpoint_transform
from event_triggers.temporal import payload_codec

router = APIRouter(
    prefix="/codec",
    tags=["Temporal codec"],
    dependencies=[ReadInvocationStatus],
    responses=error_responses(*AUTHENTICATED, *WITH_BODY, 404),
)


async def _transform(
    state: StateDep, body: dict[str, Any], direction: Literal["encode", "decode"]
) -> dict[str, Any]:
    codec = payload_codec(state.settings)
    if codec is None:
        raise NotFound("payload encryption is off (EVENT_TRIGGERS_PAYLOAD_ENCRYPTION_KEYS is not set)")
    return await codec_endpoint_transform(codec, body, direction=direction)


@router.post("/encode")
async def encode(state: StateDep, body: dict[str, Any]) -> dict[str, Any]:
    """Temporal codec server protocol, for ``temporal workflow`` CLI and Web UI (``--ui-codec-endpoint``)."""
    return await _transform(state, body, "encode")


@router.post("/decode")
async def decode(state: StateDep, body: dict[str, Any]) -> dict[str, Any]:
    """Decrypts payloads for the Web UI; needs a token with invocation-status read access."""
    return await _transform(state, body, "decode")
