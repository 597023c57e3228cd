"""The secret a REQUEST_RESPONSE subscriber sends back with its answer.

Derived, never stored: HMAC-SHA256(server key, invocation id). The delivery activity computes it for
``_metadata.secret``; the API recomputes it to check a completion, so it never enters workflow history.
"""

from __future__ import annotations

import hashlib
import hmac


def invocation_secret(*, server_key: bytes, invocation_id: str) -> str:
    if not server_key:
        raise ValueError("server key must not be empty")
    return hmac.new(server_key, invocation_id.encode(), hashlib.sha256).hexdigest()


def secrets_equal(a: str, b: str) -> bool:
    """Constant-time comparison, so response timing does not reveal how much of a guess was right."""
    return hmac.compare_digest(a.encode(), b.encode())
