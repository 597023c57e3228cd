"""Standard Webhooks signatures (https://www.standardwebhooks.com/) for outgoing deliveries.

A subscriber verifies ``webhook-signature`` with the subscription's signing secret, so it knows the
request came from us and was not replayed later (``webhook-timestamp``) or altered.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping, Sequence

SECRET_PREFIX = "whsec_"
SIGNATURE_VERSION = "v1"
_SECRET_BYTES = 32
_MIN_KEY_BYTES = 24
_MAX_KEY_BYTES = 64


class InvalidSignature(Exception):
    """The request does not carry a valid, fresh signature; ``reason`` says which check failed."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"invalid webhook signature: {reason}")
        self.reason = reason


def generate_signing_secret() -> str:
    """A new secret in the Standard Webhooks format: ``whsec_`` + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(_SECRET_BYTES)).decode("ascii")


def _signing_key(secret: str) -> bytes:
    """The HMAC key is the base64-decoded part after ``whsec_``; the message never echoes the secret."""
    encoded = secret.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("signing secret must be 'whsec_' followed by base64") from None
    if not _MIN_KEY_BYTES <= len(key) <= _MAX_KEY_BYTES:
        raise ValueError(f"signing secret must decode to {_MIN_KEY_BYTES}-{_MAX_KEY_BYTES} bytes")
    return key


def _signature(key: bytes, *, msg_id: str, timestamp: int, body: bytes) -> str:
    signed_content = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed_content, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def sign(*, secrets: Sequence[str], msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value: one ``v1,<sig>`` entry per secret, so receivers keep working
    while a rotated secret is in its grace period."""
    if not secrets:
        raise ValueError("at least one signing secret is required")
    return " ".join(
        f"{SIGNATURE_VERSION},{_signature(_signing_key(s), msg_id=msg_id, timestamp=timestamp, body=body)}"
        for s in secrets
    )


def signature_headers(
    *, secrets: Sequence[str], msg_id: str, body: bytes, now: int | None = None
) -> dict[str, str]:
    """The three Standard Webhooks headers for one delivery attempt."""
    timestamp = int(time.time()) if now is None else now
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secrets=secrets, msg_id=msg_id, timestamp=timestamp, body=body),
    }


def verify(
    *,
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    tolerance: int = 300,
    now: int | None = None,
) -> None:
    """Receiver side: accept when any ``v1`` entry matches and the timestamp is within ``tolerance``
    seconds of ``now`` (either way, against replays and clock games)."""
    lowered = {name.lower(): value for name, value in headers.items()}
    msg_id = lowered.get("webhook-id")
    timestamp_text = lowered.get("webhook-timestamp")
    signature_header = lowered.get("webhook-signature")
    if not msg_id or not timestamp_text or not signature_header:
        raise InvalidSignature("missing webhook-id, webhook-timestamp or webhook-signature header")
    try:
        timestamp = int(timestamp_text)
    except ValueError:
        raise InvalidSignature("webhook-timestamp is not an integer") from None
    current = int(time.time()) if now is None else now
    if abs(current - timestamp) > tolerance:
        raise InvalidSignature("webhook-timestamp is outside the tolerance")
    expected = _signature(_signing_key(secret), msg_id=msg_id, timestamp=timestamp, body=body).encode()
    for entry in signature_header.split():
        version, _, candidate = entry.partition(",")
        if version == SIGNATURE_VERSION and hmac.compare_digest(candidate.encode(), expected):
            return
    raise InvalidSignature("no matching v1 signature")
