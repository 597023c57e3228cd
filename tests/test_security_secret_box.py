import base64
import json
import stat
from concurrent.futures import ThreadPoolExecutor

import pytest

from event_triggers.security.secret_box import (
    DecryptionFailed,
    SecretBox,
    generate_key,
    load_or_create_keyfile,
    parse_keys,
)

OLD_KEY, NEW_KEY = generate_key(), generate_key()


def test_round_trip_and_token_format():
    box = SecretBox({"k1": NEW_KEY}, "k1")
    token = box.encrypt("p@ssw0rd é")
    version, key_id, encoded = token.split(":", 2)
    assert (version, key_id) == ("v1", "k1")
    assert "p@ssw0rd" not in token
    assert len(base64.b64decode(encoded)) == 12 + len("p@ssw0rd é".encode()) + 16
    assert box.decrypt(token) == "p@ssw0rd é"


def test_each_encryption_uses_a_fresh_nonce():
    box = SecretBox({"k1": NEW_KEY}, "k1")
    assert box.encrypt("same") != box.encrypt("same")


def test_rotation_old_tokens_still_decrypt_new_tokens_use_the_new_key():
    old_token = SecretBox({"k0": OLD_KEY}, "k0").encrypt("old secret")
    rotated = SecretBox({"k1": NEW_KEY, "k0": OLD_KEY}, "k1")
    assert rotated.decrypt(old_token) == "old secret"
    assert rotated.encrypt("new secret").startswith("v1:k1:")
    with pytest.raises(DecryptionFailed, match="unknown key id 'k0'"):
        SecretBox({"k1": NEW_KEY}, "k1").decrypt(old_token)


def test_tampering_is_detected():
    box = SecretBox({"k1": NEW_KEY, "k0": OLD_KEY}, "k1")
    token = box.encrypt("secret")
    version, key_id, encoded = token.split(":", 2)
    blob = bytearray(base64.b64decode(encoded))
    blob[-1] ^= 1
    with pytest.raises(DecryptionFailed, match="does not verify"):
        box.decrypt(f"{version}:{key_id}:{base64.b64encode(bytes(blob)).decode()}")
    with pytest.raises(DecryptionFailed, match="does not verify"):
        box.decrypt(f"{version}:k0:{encoded}")  # relabelled to another key


@pytest.mark.parametrize("token", ["", "plain", "v2:k1:AAAA", "v1:k1:", "v1:k1:not base64!", "v1:k1:AAAA"])
def test_malformed_tokens_are_refused(token):
    with pytest.raises(DecryptionFailed):
        SecretBox({"k1": NEW_KEY}, "k1").decrypt(token)


def test_keys_are_validated():
    with pytest.raises(ValueError, match="32 bytes"):
        SecretBox({"k1": b"short"}, "k1")
    with pytest.raises(ValueError, match="not among the keys"):
        SecretBox({"k1": NEW_KEY}, "k2")
    with pytest.raises(ValueError, match="key id"):
        SecretBox({"a:b": NEW_KEY}, "a:b")


def test_parse_keys_first_entry_is_current():
    setting = f"kid1:{base64.b64encode(NEW_KEY).decode()}, kid0:{base64.b64encode(OLD_KEY).decode()}"
    keys, current = parse_keys(setting)
    assert keys == {"kid1": NEW_KEY, "kid0": OLD_KEY}
    assert current == "kid1"


@pytest.mark.parametrize(
    ("setting", "reason"),
    [
        ("", "at least one"),
        ("nocolon", "entry 1 must be"),
        ("k1:@@@@", "entry 1"),
        (f"k1:{base64.b64encode(b'short').decode()}", "entry 1 must decode to 32 bytes"),
        (f"k1:{base64.b64encode(NEW_KEY).decode()},k1:{base64.b64encode(OLD_KEY).decode()}", "appears twice"),
    ],
)
def test_parse_keys_errors_name_the_setting_and_not_the_key(setting, reason):
    with pytest.raises(ValueError, match=reason) as raised:
        parse_keys(setting, setting_name="EVENT_TRIGGERS_SECRET_KEYS")
    assert str(raised.value).startswith("EVENT_TRIGGERS_SECRET_KEYS")
    assert base64.b64encode(NEW_KEY).decode() not in str(raised.value)


def test_keyfile_is_created_once_with_mode_0600(tmp_path):
    path = tmp_path / "nested" / "secret-key.json"
    key_id, key = load_or_create_keyfile(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text()) == {"key_id": key_id, "key_b64": base64.b64encode(key).decode()}
    assert load_or_create_keyfile(path) == (key_id, key)
    assert list(path.parent.iterdir()) == [path]  # no temporary file left behind


def test_concurrent_creators_agree_on_one_key(tmp_path):
    path = tmp_path / "secret-key.json"
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = set(pool.map(lambda _: load_or_create_keyfile(path), range(16)))
    assert len(results) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["secret-key.json"]
