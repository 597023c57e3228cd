from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form
from fastapi.security import HTTPBasic, HTTPBasicCredentials
from pydantic import BaseModel

from api.deps import SettingsDep, StoreDep
from api.openapi import WITH_BODY, error_responses
from event_triggers.clients import issue_client_token
from event_triggers.errors import InvalidField, Unauthorized

router = APIRouter(tags=["OAuth"])
_basic = HTTPBasic(auto_error=False)


class TokenResponse(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int
    scope: str


@router.post("/oauth/token", responses=error_responses(*WITH_BODY, 401))
async def token(
    store: StoreDep,
    settings: SettingsDep,
    basic: Annotated[HTTPBasicCredentials | None, Depends(_basic)],
    grant_type: Annotated[str, Form()],
    client_id: Annotated[str | None, Form()] = None,
    client_secret: Annotated[str | None, Form()] = None,
    scope: Annotated[str | None, Form()] = None,
) -> TokenResponse:
    """OAuth2 client credentials grant; the client authenticates by form fields or HTTP Basic."""
    if grant_type != "client_credentials":
        raise InvalidField("grant_type", "only client_credentials is supported")
    if basic is not None:
        client_id, client_secret = basic.username, basic.password
    if not client_id or not client_secret:
        raise Unauthorized("invalid_client: client_id and client_secret are required")
    issued = await issue_client_token(
        store=store,
        settings=settings,
        client_id=client_id,
        client_secret=client_secret,
        requested_scope=scope,
    )
    return TokenResponse(access_token=issued.access_token, expires_in=issued.expires_in, scope=issued.scope)
