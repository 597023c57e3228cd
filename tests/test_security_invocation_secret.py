import hashlib
import hmac

import pytest

from event_triggers.security.invocation_secret import invocation_secret, secrets_equal


def test_invocation_secret_is_the_hex_hmac_of_the_invocation_id():
    expected = hmac.new(b"server-key", b"0f1e2d3c", hashlib.sha256).hexdigest()
    assert invocation_secret(server_key=b"server-key", invocation_id="0f1e2d3c") == expected


def test_invocation_secret_depends_on_key_and_id_and_is_stable():
    base = invocation_secret(server_key=b"k1", invocation_id="a")
    assert base == invocation_secret(server_key=b"k1", invocation_id="a")
    assert base != invocation_secret(server_key=b"k2", invocation_id="a")
    assert base != invocation_secret(server_key=b"k1", invocation_id="b")
    assert len(base) == 64


def test_empty_server_key_is_refused():
    with pytest.raises(ValueError, match="server key"):
        invocation_secret(server_key=b"", invocation_id="a")


def test_secrets_equal():
    secret = invocation_secret(server_key=b"k", invocation_id="a")
    assert secrets_equal(secret, secret)
    assert not secrets_equal(secret, secret[:-1] + ("0" if secret[-1] != "0" else "1"))
    assert not secrets_equal(secret, "")
    assert not secrets_equal(secret, "é")  # non-ASCII input from a caller must not raise
