"""API clients (OAuth2 client credentials): creation, authentication, token issue and checks."""

from __future__ import annotations

import asyncio
import json
import os
from dataclasses import dataclass
from pathlib import Path

from event_triggers.config import Settings
from event_triggers.errors import Forbidden, InvalidField, Unauthorized
from event_triggers.keys import token_signing_key
from event_triggers.security.client_credentials import (
    SCOPES,
    TokenClaims,
    decode_token,
    generate_client_id,
    generate_client_secret,
    has_scope,
    hash_client_secret,
    issue_token,
    secret_hash_is_outdated,
    verify_client_secret,
)
from event_triggers.store import Store

DEV_CLIENT_FILE = "dev-client.json"


@dataclass(frozen=True)
class NewClient:
    """The one moment a client secret is visible: right after creation."""

    client_id: str
    client_secret: str
    name: str
    scopes: list[str]

    def as_dict(self) -> dict[str, object]:
        return {
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "name": self.name,
            "scopes": self.scopes,
        }


@dataclass(frozen=True)
class IssuedToken:
    access_token: str
    expires_in: int
    scope: str


async def create_client(*, store: Store, name: str, scopes: list[str]) -> NewClient:
    if not name.strip():
        raise InvalidField("name", "must not be empty")
    unknown = sorted(set(scopes) - SCOPES)
    if unknown:
        raise InvalidField("scope", f"unknown scope '{unknown[0]}'; known: {', '.join(sorted(SCOPES))}")
    if not scopes:
        raise InvalidField("scope", "at least one scope is required")
    client = NewClient(generate_client_id(), generate_client_secret(), name, sorted(set(scopes)))
    await store.add_client(
        client_id=client.client_id,
        name=name,
        secret_hash=await asyncio.to_thread(hash_client_secret, client.client_secret),
        scopes=client.scopes,
    )
    return client


async def issue_client_token(
    *, store: Store, settings: Settings, client_id: str, client_secret: str, requested_scope: str | None
) -> IssuedToken:
    """Client credentials grant: the token carries the requested scopes (default: all the client has).

    The secret is checked on a thread (Argon2 releases the GIL): on the event loop it would stall every
    request, delivery and workflow activation of the process for the length of the hash. A hash made with
    older parameters is replaced by one with today's once the secret has matched it."""
    client = await store.get_client(client_id)
    stored_hash = None if client is None else client.secret_hash
    matched = await asyncio.to_thread(verify_client_secret, client_secret, stored_hash)
    if client is None or not matched:
        raise Unauthorized("invalid_client: unknown client or wrong secret")
    if secret_hash_is_outdated(client.secret_hash):
        await store.replace_client_secret_hash(
            client_id=client_id, secret_hash=await asyncio.to_thread(hash_client_secret, client_secret)
        )
    granted = set(client.scopes)
    scopes = set(requested_scope.split()) if requested_scope else granted
    if not scopes <= granted:
        raise InvalidField("scope", f"not granted to this client: {' '.join(sorted(scopes - granted))}")
    token, expires_in = issue_token(
        client_id=client_id,
        scopes=scopes,
        signing_key=token_signing_key(settings),
        ttl_seconds=int(settings.token_ttl.total_seconds()),
    )
    return IssuedToken(token, expires_in, " ".join(sorted(scopes)))


def authorize(*, token: str | None, signing_key: bytes, any_of: tuple[str, ...]) -> TokenClaims:
    """401 without a valid bearer token, 403 when it lacks every scope in ``any_of``."""
    if not token:
        raise Unauthorized("a bearer token is required (POST /oauth/token)")
    claims = decode_token(token, signing_key=signing_key)
    if not has_scope(claims, *any_of):
        raise Forbidden(f"the token lacks the scope {' or '.join(any_of)}")
    return claims


async def ensure_dev_client(*, store: Store, data_dir: Path) -> tuple[dict[str, object], bool]:
    """The dev stack's client with every scope, created on first start and kept in the data dir.

    Returns the client and whether it was created now.
    """
    path = data_dir / DEV_CLIENT_FILE
    if path.exists():
        saved = json.loads(path.read_text())
        if await store.get_client(str(saved["client_id"])) is not None:
            return saved, False
    client = (await create_client(store=store, name="dev", scopes=sorted(SCOPES))).as_dict()
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump(client, handle, indent=2)
    return client, True
