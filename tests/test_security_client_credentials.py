import time

import jwt
import pytest
from argon2 import PasswordHasher

from event_triggers.errors import InvalidField, Unauthorized
from event_triggers.security.client_credentials import (
    INVOCATION_STATUS_MANAGE,
    INVOCATION_STATUS_READ,
    INVOCATIONS_CREATE,
    SCOPES,
    SUBSCRIPTIONS_MANAGE,
    SUBSCRIPTIONS_READ,
    InvalidToken,
    TokenClaims,
    decode_token,
    generate_client_id,
    generate_client_secret,
    has_scope,
    hash_client_secret,
    issue_token,
    verify_client_secret,
)

KEY = b"k" * 32
OTHER_KEY = b"o" * 32


def test_scope_names():
    assert {
        "sp:trigger-service-subscriptions:read",
        "sp:trigger-service-subscriptions:manage",
        "sp:trigger-service-invocation-status:read",
        "sp:trigger-service-invocation-status:manage",
        "idn:trigger-service-invocations:create",
    } == SCOPES


def test_client_ids_and_secrets_are_random():
    assert len({generate_client_id() for _ in range(10)}) == 10
    assert len(generate_client_secret()) == 64
    assert generate_client_secret() != generate_client_secret()


def test_secret_hash_is_salted_and_verifies():
    secret = generate_client_secret()
    hashed = hash_client_secret(secret)
    assert hashed.startswith("$argon2id$")
    assert secret not in hashed
    assert hash_client_secret(secret) != hashed
    assert verify_client_secret(secret, hashed)
    assert not verify_client_secret(secret + "x", hashed)
    assert not verify_client_secret(secret, "not a hash")


def test_secret_hash_is_owasp_minimum_argon2id_and_older_parameters_still_verify():
    secret = generate_client_secret()
    assert hash_client_secret(secret).startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    made_before = PasswordHasher().hash(secret)  # argon2-cffi's defaults, as stores of earlier versions hold
    assert verify_client_secret(secret, made_before)
    assert not verify_client_secret(secret + "x", made_before)


def test_issue_and_decode():
    now = int(time.time())
    token, expires_in = issue_token(
        client_id="c1",
        scopes=[SUBSCRIPTIONS_READ, INVOCATIONS_CREATE],
        signing_key=KEY,
        ttl_seconds=600,
        now=now,
    )
    assert expires_in == 600
    claims = jwt.decode(token, KEY, algorithms=["HS256"], issuer="event-triggers")
    assert claims == {
        "iss": "event-triggers",
        "sub": "c1",
        "scope": f"{INVOCATIONS_CREATE} {SUBSCRIPTIONS_READ}",
        "iat": now,
        "exp": now + 600,
    }
    assert decode_token(token, signing_key=KEY) == TokenClaims(
        client_id="c1", scopes=frozenset({SUBSCRIPTIONS_READ, INVOCATIONS_CREATE})
    )


def test_unknown_scope_cannot_be_issued():
    with pytest.raises(InvalidField, match="scope: unknown scope 'admin'"):
        issue_token(client_id="c1", scopes=["admin"], signing_key=KEY, ttl_seconds=60)


def test_expired_token():
    token, _ = issue_token(
        client_id="c1", scopes=[], signing_key=KEY, ttl_seconds=60, now=int(time.time()) - 120
    )
    with pytest.raises(InvalidToken, match="expired") as raised:
        decode_token(token, signing_key=KEY)
    assert isinstance(raised.value, Unauthorized)
    assert raised.value.reason == "expired"


def test_wrong_key():
    token, _ = issue_token(client_id="c1", scopes=[], signing_key=OTHER_KEY, ttl_seconds=60)
    with pytest.raises(InvalidToken, match="signature"):
        decode_token(token, signing_key=KEY)


def test_tampered_token():
    token, _ = issue_token(client_id="c1", scopes=[SUBSCRIPTIONS_READ], signing_key=KEY, ttl_seconds=60)
    header, _, signature = token.split(".")
    claims = jwt.decode(token, KEY, algorithms=["HS256"], issuer="event-triggers")
    forged = jwt.encode({**claims, "scope": SUBSCRIPTIONS_MANAGE}, OTHER_KEY, algorithm="HS256")
    tampered = f"{header}.{forged.split('.')[1]}.{signature}"
    with pytest.raises(InvalidToken, match="signature"):
        decode_token(tampered, signing_key=KEY)


@pytest.mark.parametrize(
    "token",
    [
        "garbage",
        jwt.encode({"sub": "c1", "iat": 1, "exp": 2**40, "iss": "event-triggers"}, "", algorithm="none"),
        jwt.encode({"sub": "c1", "iat": 1, "exp": 2**40, "iss": "someone-else"}, KEY, algorithm="HS256"),
        jwt.encode({"sub": "c1", "iss": "event-triggers", "iat": 1}, KEY, algorithm="HS256"),
        jwt.encode(
            {"sub": "c1", "iat": 1, "exp": 2**40, "iss": "event-triggers"}, KEY * 2, algorithm="HS512"
        ),
    ],
    ids=["garbage", "alg-none", "other-issuer", "no-exp", "other-algorithm"],
)
def test_malformed_or_foreign_tokens(token):
    with pytest.raises(InvalidToken):
        decode_token(token, signing_key=KEY)


def test_short_signing_key_is_refused():
    with pytest.raises(ValueError, match="at least 32 bytes"):
        issue_token(client_id="c1", scopes=[], signing_key=b"short", ttl_seconds=60)


def test_has_scope_manage_implies_read_of_the_same_resource():
    manage_subscriptions = TokenClaims("c1", frozenset({SUBSCRIPTIONS_MANAGE}))
    assert has_scope(manage_subscriptions, SUBSCRIPTIONS_READ)
    assert has_scope(manage_subscriptions, SUBSCRIPTIONS_MANAGE)
    assert not has_scope(manage_subscriptions, INVOCATION_STATUS_READ)
    read_only = TokenClaims("c1", frozenset({INVOCATION_STATUS_READ}))
    assert not has_scope(read_only, INVOCATION_STATUS_MANAGE)
    assert has_scope(read_only, INVOCATION_STATUS_MANAGE, INVOCATION_STATUS_READ)
    assert not has_scope(TokenClaims("c1", frozenset()), INVOCATIONS_CREATE)
