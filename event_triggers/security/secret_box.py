"""Secrets at rest (subscriber passwords and tokens, signing secrets) encrypted with AES-256-GCM.

Keys carry an id; every ciphertext names the key that sealed it, so keys rotate without re-encrypting:
add a new current key, keep the old ones for decryption, re-encrypt at leisure, then drop the old key.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import os
import secrets
from collections.abc import Callable, Mapping
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32
NONCE_BYTES = 12
MIN_DISTINCT_KEY_BYTES = 16
"""A random 32-byte key has about 30 distinct byte values; fewer than 16 means a typed or patterned key."""
TOKEN_VERSION = "v1"


class DecryptionFailed(Exception):
    """A ciphertext cannot be opened: unknown key id, malformed, or altered (the tag did not verify)."""


def generate_key() -> bytes:
    """A new random AES-256 key."""
    return AESGCM.generate_key(bit_length=KEY_BYTES * 8)


def check_key_strength(key: bytes, *, minimum: int = KEY_BYTES) -> None:
    """Refuse a key shorter than ``minimum`` bytes or one that is visibly not random (e.g. a repeated
    phrase); the message never contains the key."""
    if len(key) < minimum:
        raise ValueError(f"must decode to at least {minimum} bytes, got {len(key)}")
    if len(set(key)) < MIN_DISTINCT_KEY_BYTES:
        raise ValueError("is not random (too few distinct bytes): use `event-triggers keys generate`")


def _check_key_id(key_id: str) -> None:
    if not key_id or not key_id.isascii() or any(c in key_id for c in ":, \t\n"):
        raise ValueError(f"key id {key_id!r} must be non-empty ASCII without ':', ',' or whitespace")


class KeyRing:
    """AES-256-GCM with named keys: seals with the current key, opens with whichever key sealed."""

    def __init__(self, keys: Mapping[str, bytes], current_key_id: str) -> None:
        for key_id, key in keys.items():
            _check_key_id(key_id)
            if len(key) != KEY_BYTES:
                raise ValueError(f"key {key_id!r} must be {KEY_BYTES} bytes, got {len(key)}")
        if current_key_id not in keys:
            raise ValueError(f"current key id {current_key_id!r} is not among the keys")
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys.items()}
        self.current_key_id = current_key_id

    def seal(self, plaintext: bytes, *, associated_data: bytes) -> tuple[str, bytes]:
        """(key id, nonce + ciphertext + tag); a fresh random 96-bit nonce per message."""
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = self._ciphers[self.current_key_id].encrypt(nonce, plaintext, associated_data)
        return self.current_key_id, nonce + sealed

    def open(self, key_id: str, blob: bytes, *, associated_data: bytes) -> bytes:
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise DecryptionFailed(f"unknown key id {key_id!r}")
        if len(blob) <= NONCE_BYTES:
            raise DecryptionFailed("ciphertext is too short")
        try:
            return cipher.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], associated_data)
        except InvalidTag:
            raise DecryptionFailed(f"ciphertext does not verify with key {key_id!r}") from None


class SecretBox:
    """Encrypts short strings into self-describing tokens ``v1:<key_id>:<base64(nonce + ciphertext)>``.

    The ``v1:<key_id>`` header is authenticated too, so a token cannot be relabelled to another key.
    """

    def __init__(self, keys: Mapping[str, bytes], current_key_id: str) -> None:
        self._ring = KeyRing(keys, current_key_id)

    def encrypt(self, plaintext: str) -> str:
        key_id = self._ring.current_key_id
        _, blob = self._ring.seal(plaintext.encode(), associated_data=self._header(key_id))
        return f"{self._header(key_id).decode()}:{base64.b64encode(blob).decode('ascii')}"

    def decrypt(self, token: str) -> str:
        version, key_id, encoded = (token.split(":", 2) + ["", ""])[:3]
        if version != TOKEN_VERSION or not key_id or not encoded:
            raise DecryptionFailed("token is not of the form v1:<key_id>:<base64>")
        try:
            blob = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise DecryptionFailed("token payload is not base64") from None
        return self._ring.open(key_id, blob, associated_data=self._header(key_id)).decode()

    @staticmethod
    def _header(key_id: str) -> bytes:
        return f"{TOKEN_VERSION}:{key_id}".encode()


def parse_keys(setting: str, *, setting_name: str = "keys") -> tuple[dict[str, bytes], str]:
    """Keys from a setting ``"kid1:base64key,kid0:base64key"``; the first one is current.

    Errors name the setting and the entry's position, never the key material.
    """
    keys: dict[str, bytes] = {}
    for position, entry in enumerate(filter(None, (part.strip() for part in setting.split(","))), 1):
        key_id, separator, encoded = entry.partition(":")
        if not separator:
            raise ValueError(f"{setting_name}: entry {position} must be '<key_id>:<base64 key>'")
        try:
            _check_key_id(key_id)
            key = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError) as error:
            raise ValueError(f"{setting_name}: entry {position}: {error}") from None
        if len(key) != KEY_BYTES:
            raise ValueError(f"{setting_name}: entry {position} must decode to {KEY_BYTES} bytes")
        try:
            check_key_strength(key)
        except ValueError as weak:
            raise ValueError(f"{setting_name}: entry {position} {weak}") from None
        if key_id in keys:
            raise ValueError(f"{setting_name}: key id {key_id!r} appears twice")
        keys[key_id] = key
    if not keys:
        raise ValueError(f"{setting_name}: at least one '<key_id>:<base64 key>' entry is required")
    return keys, next(iter(keys))


def read_or_create_private_file(path: Path, make: Callable[[], bytes]) -> bytes:
    """``path``'s content, or ``make()`` written there first with mode 0600.

    The file is written in full under a temporary name and linked into place, so a process that starts
    at the same time reads either nothing or the whole file, and every process ends up with the same one.
    """
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(descriptor, "wb") as file:
                file.write(make())
            with contextlib.suppress(FileExistsError):  # another process won the race: use its file
                os.link(temporary, path)
        finally:
            temporary.unlink()
    return path.read_bytes()


def load_or_create_keyfile(path: Path) -> tuple[str, bytes]:
    """The dev stack's key: read ``path`` (JSON ``{key_id, key_b64}``) or create it with mode 0600."""

    def new_keyfile() -> bytes:
        key_id, key = f"dev-{secrets.token_hex(4)}", generate_key()
        return json.dumps({"key_id": key_id, "key_b64": base64.b64encode(key).decode("ascii")}).encode()

    data = json.loads(read_or_create_private_file(path, new_keyfile))
    key = base64.b64decode(data["key_b64"], validate=True)
    if len(key) != KEY_BYTES:
        raise ValueError(f"{path}: key_b64 must decode to {KEY_BYTES} bytes")
    return str(data["key_id"]), key
