"""The UI's session: an API access token in an HttpOnly cookie, CSRF tokens, and scope checks.

The cookie holds the same bearer token ``POST /oauth/token`` issues (client credentials grant), so the
UI and the REST API authorise alike and a session ends when its token expires. Every state-changing
request carries a CSRF token derived from the session token (HMAC with the token signing key) and must
come from this origin when the browser says where it comes from.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Collection
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request, Response

from api.deps import StateDep
from event_triggers.errors import DomainError, Forbidden, Unauthorized
from event_triggers.security.client_credentials import (
    INVOCATION_STATUS_MANAGE,
    INVOCATION_STATUS_READ,
    SUBSCRIPTIONS_MANAGE,
    SUBSCRIPTIONS_READ,
    TokenClaims,
    decode_token,
    has_scope,
)

COOKIE_NAME = "event_triggers_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"


class LoginRequired(Unauthorized):
    """No valid session: a page sends the browser to the login page, a JSON call answers 401."""

    def __init__(self) -> None:
        super().__init__("log in first: no valid session")


def csrf_token(*, signing_key: bytes, session_token: str) -> str:
    return hmac.new(signing_key, b"csrf\0" + session_token.encode(), hashlib.sha256).hexdigest()


def check_origin(request: Request, *, also_allowed: Collection[str] = ()) -> None:
    """Refuse a request that a browser says comes from another origin than this one or ``also_allowed``."""
    origin = request.headers.get("origin")
    own_origin = f"{request.url.scheme}://{request.url.netloc}"
    if origin is not None and origin != own_origin and origin not in also_allowed:
        raise Forbidden(f"cross-origin request refused: {origin} is not an allowed origin")


@dataclass(frozen=True)
class UiSession:
    """The logged-in API client and what its token allows the pages to show and do."""

    claims: TokenClaims
    csrf_token: str

    def can(self, scope: str) -> bool:
        return has_scope(self.claims, scope)

    @property
    def can_read_subscriptions(self) -> bool:
        return self.can(SUBSCRIPTIONS_READ)

    @property
    def can_manage_subscriptions(self) -> bool:
        return self.can(SUBSCRIPTIONS_MANAGE)

    @property
    def can_read_invocations(self) -> bool:
        return self.can(INVOCATION_STATUS_READ)

    @property
    def can_send_tests(self) -> bool:
        return self.can(INVOCATION_STATUS_MANAGE)

    def require(self, scope: str) -> None:
        """403 for an action the token does not allow, whatever the page showed."""
        if not self.can(scope):
            raise Forbidden(f"this client lacks the scope {scope}")


async def get_session(request: Request, state: StateDep) -> UiSession:
    token = request.cookies.get(COOKIE_NAME)
    if not token:
        raise LoginRequired
    try:
        claims = decode_token(token, signing_key=state.token_signing_key)
    except DomainError:
        raise LoginRequired from None
    return UiSession(
        claims=claims,
        csrf_token=csrf_token(signing_key=state.token_signing_key, session_token=token),
    )


async def get_checked_session(
    request: Request, session: Annotated[UiSession, Depends(get_session)]
) -> UiSession:
    """The session of a state-changing request: same origin and a valid CSRF token, else 403."""
    check_origin(request)
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        sent = str((await request.form()).get(CSRF_FIELD) or "")
    # Compared as UTF-8 bytes: ``compare_digest`` raises TypeError for a str that is not ASCII.
    if not sent or not hmac.compare_digest(
        sent.encode("utf-8", "surrogatepass"), session.csrf_token.encode("ascii")
    ):
        raise Forbidden("missing or wrong CSRF token; reload the page and try again")
    return session


def start_session(response: Response, *, request: Request, token: str, expires_in: int) -> None:
    response.set_cookie(
        COOKIE_NAME,
        token,
        max_age=expires_in,
        path="/ui",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def end_session(response: Response, *, request: Request) -> None:
    response.delete_cookie(
        COOKIE_NAME, path="/ui", httponly=True, samesite="strict", secure=request.url.scheme == "https"
    )


SessionDep = Annotated[UiSession, Depends(get_session)]
ChangeSessionDep = Annotated[UiSession, Depends(get_checked_session)]
