import base64
import hashlib
import hmac

import pytest

from event_triggers.security.webhook_signing import (
    InvalidSignature,
    generate_signing_secret,
    sign,
    signature_headers,
    verify,
)

SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_MSG_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TIMESTAMP = 1614265330
SPEC_BODY = b'{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_sign_matches_the_published_standard_webhooks_example():
    assert sign(secrets=[SPEC_SECRET], msg_id=SPEC_MSG_ID, timestamp=SPEC_TIMESTAMP, body=SPEC_BODY) == (
        SPEC_SIGNATURE
    )


def test_sign_matches_an_independent_hmac_computation():
    secret = generate_signing_secret()
    key = base64.b64decode(secret.removeprefix("whsec_"))
    expected = base64.b64encode(hmac.new(key, b"msg_1.1700000000.hello", hashlib.sha256).digest()).decode()
    assert sign(secrets=[secret], msg_id="msg_1", timestamp=1700000000, body=b"hello") == f"v1,{expected}"


def test_generated_secrets_are_random_and_in_the_standard_format():
    first, second = generate_signing_secret(), generate_signing_secret()
    assert first != second
    assert first.startswith("whsec_")
    assert len(base64.b64decode(first.removeprefix("whsec_"))) == 32


def test_rotation_signs_with_every_secret_and_each_one_verifies():
    old, new = generate_signing_secret(), generate_signing_secret()
    headers = signature_headers(secrets=[new, old], msg_id="msg_2", body=b"{}", now=1700000000)
    assert headers["webhook-id"] == "msg_2"
    assert headers["webhook-timestamp"] == "1700000000"
    assert len(headers["webhook-signature"].split(" ")) == 2
    for secret in (old, new):
        verify(secret=secret, headers=headers, body=b"{}", now=1700000010)


def test_verify_accepts_the_spec_example_with_any_header_case():
    headers = {
        "Webhook-Id": SPEC_MSG_ID,
        "Webhook-Timestamp": str(SPEC_TIMESTAMP),
        "Webhook-Signature": f"v1,bogus {SPEC_SIGNATURE}",
    }
    verify(secret=SPEC_SECRET, headers=headers, body=SPEC_BODY, now=SPEC_TIMESTAMP)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"body": b'{"test": 1}'}, "no matching v1 signature"),
        ({"secret": "whsec_" + base64.b64encode(b"x" * 24).decode()}, "no matching v1 signature"),
        ({"now": SPEC_TIMESTAMP + 301}, "outside the tolerance"),
        ({"now": SPEC_TIMESTAMP - 301}, "outside the tolerance"),
        ({"headers": {"webhook-id": SPEC_MSG_ID}}, "missing"),
        ({"signature": "v2," + SPEC_SIGNATURE[3:]}, "no matching v1 signature"),
        ({"timestamp": "soon"}, "not an integer"),
        ({"msg_id": "msg_other"}, "no matching v1 signature"),
    ],
)
def test_verify_refuses(change, reason):
    headers = {
        "webhook-id": change.get("msg_id", SPEC_MSG_ID),
        "webhook-timestamp": change.get("timestamp", str(SPEC_TIMESTAMP)),
        "webhook-signature": change.get("signature", SPEC_SIGNATURE),
    }
    with pytest.raises(InvalidSignature, match=reason):
        verify(
            secret=change.get("secret", SPEC_SECRET),
            headers=change.get("headers", headers),
            body=change.get("body", SPEC_BODY),
            now=change.get("now", SPEC_TIMESTAMP),
        )


@pytest.mark.parametrize("secret", ["whsec_not base64!", "whsec_" + base64.b64encode(b"short").decode()])
def test_malformed_secrets_are_refused_without_echoing_them(secret):
    with pytest.raises(ValueError) as raised:
        sign(secrets=[secret], msg_id="m", timestamp=1, body=b"")
    assert secret.removeprefix("whsec_") not in str(raised.value)
