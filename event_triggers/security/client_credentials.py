"""OAuth2 client-credentials primitives: API clients, their hashed secrets, and the bearer tokens
(HS256 JWTs) the token endpoint issues and every route checks."""

from __future__ import annotations

import functools
import secrets
import time
from collections.abc import Collection
from dataclasses import dataclass

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from event_triggers.errors import InvalidField, Unauthorized

ISSUER = "event-triggers"
ALGORITHM = "HS256"
MIN_SIGNING_KEY_BYTES = 32

SUBSCRIPTIONS_READ = "sp:trigger-service-subscriptions:read"
SUBSCRIPTIONS_MANAGE = "sp:trigger-service-subscriptions:manage"
INVOCATION_STATUS_READ = "sp:trigger-service-invocation-status:read"
INVOCATION_STATUS_MANAGE = "sp:trigger-service-invocation-status:manage"
INVOCATIONS_CREATE = "idn:trigger-service-invocations:create"
SCOPES = frozenset(
    {
        SUBSCRIPTIONS_READ,
        SUBSCRIPTIONS_MANAGE,
        INVOCATION_STATUS_READ,
        INVOCATION_STATUS_MANAGE,
        INVOCATIONS_CREATE,
    }
)

# Client secrets are 256 random bits, so no hash cost makes guessing one any harder; what the cost does
# buy is CPU per token request (~160 ms with argon2-cffi's defaults here). OWASP's minimum for Argon2id
# (19 MiB, 2 passes, 1 lane: ~25 ms) keeps the stored form a password-grade hash at a sixth of that.
# Hashes made with other parameters still verify: the PHC string carries its own.
_hasher = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)


class InvalidToken(Unauthorized):
    """The bearer token is not one we issued, or no longer valid; ``reason`` says why (401)."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"invalid access token: {reason}")
        self.reason = reason


@dataclass(frozen=True)
class TokenClaims:
    client_id: str
    scopes: frozenset[str]


def generate_client_id() -> str:
    return secrets.token_hex(16)


def generate_client_secret() -> str:
    return secrets.token_hex(32)


def hash_client_secret(secret: str) -> str:
    """Argon2id hash with a random salt, in the self-describing PHC string format."""
    return _hasher.hash(secret)


def verify_client_secret(secret: str, hashed: str | None) -> bool:
    """Whether ``secret`` matches ``hashed``. ``None`` (no such client) is checked against a hash no
    secret matches, so a token request for an unknown client id takes as long as one with a wrong
    secret: the time tells nothing about which client ids exist."""
    try:
        return _hasher.verify(hashed or _unknown_client_hash(), secret)
    except (VerificationError, InvalidHashError):
        return False


def secret_hash_is_outdated(hashed: str) -> bool:
    """Made with other parameters than today's: to be rehashed at the next successful check."""
    return _hasher.check_needs_rehash(hashed)


@functools.cache
def _unknown_client_hash() -> str:
    return _hasher.hash(secrets.token_hex(32))


def _check_signing_key(signing_key: bytes) -> None:
    if len(signing_key) < MIN_SIGNING_KEY_BYTES:
        raise ValueError(f"token signing key must be at least {MIN_SIGNING_KEY_BYTES} bytes")


def issue_token(
    *,
    client_id: str,
    scopes: Collection[str],
    signing_key: bytes,
    ttl_seconds: int,
    now: int | None = None,
) -> tuple[str, int]:
    """(access token, expires_in seconds) for a client granted ``scopes``."""
    _check_signing_key(signing_key)
    unknown = sorted(set(scopes) - SCOPES)
    if unknown:
        raise InvalidField("scope", f"unknown scope {unknown[0]!r}")
    issued_at = int(time.time()) if now is None else now
    claims = {
        "iss": ISSUER,
        "sub": client_id,
        "scope": " ".join(sorted(scopes)),
        "iat": issued_at,
        "exp": issued_at + ttl_seconds,
    }
    return jwt.encode(claims, signing_key, algorithm=ALGORITHM), ttl_seconds


def decode_token(token: str, *, signing_key: bytes) -> TokenClaims:
    """Verify signature, issuer and expiry; only HS256 is accepted (no ``alg: none`` or key confusion)."""
    _check_signing_key(signing_key)
    try:
        claims = jwt.decode(
            token,
            signing_key,
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            options={"require": ["iss", "sub", "iat", "exp"]},
        )
    except jwt.ExpiredSignatureError:
        raise InvalidToken("expired") from None
    except jwt.InvalidSignatureError:
        raise InvalidToken("signature does not verify") from None
    except jwt.DecodeError:
        # The decoder's own words ("'utf-8' codec can't decode byte ...") describe our internals.
        raise InvalidToken("malformed token") from None
    except jwt.InvalidTokenError:
        raise InvalidToken("not issued by this service") from None
    scope = claims.get("scope", "")
    if not isinstance(scope, str):
        raise InvalidToken("malformed token")
    return TokenClaims(client_id=claims["sub"], scopes=frozenset(scope.split()))


def has_scope(claims: TokenClaims, *any_of: str) -> bool:
    """Whether the token grants any of ``any_of``; ``...:manage`` implies ``...:read`` of the same
    resource."""
    for required in any_of:
        if required in claims.scopes:
            return True
        resource, _, action = required.rpartition(":")
        if action == "read" and f"{resource}:manage" in claims.scopes:
            return True
    return False
