"""Key material: one documented format per setting, checked at start; key files only in dev mode.

- ``EVENT_TRIGGERS_SECRET_KEYS``: ``kid:<base64>[,kid:<base64>...]`` (first current), 32 random bytes each;
- ``EVENT_TRIGGERS_PAYLOAD_ENCRYPTION_KEYS``: the same, optional (unset: payloads are not encrypted);
- ``EVENT_TRIGGERS_TOKEN_SIGNING_KEY`` and ``EVENT_TRIGGERS_SERVER_KEY``: ``<base64>`` of at least 32
  random bytes.

Every replica must hold the same keys, so outside dev mode a missing key is an error naming its setting
(``event-triggers keys generate`` prints a full set); only ``event-triggers dev`` writes key files into
the data dir.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path

from event_triggers.config import Settings
from event_triggers.security.secret_box import (
    SecretBox,
    check_key_strength,
    generate_key,
    load_or_create_keyfile,
    parse_keys,
    read_or_create_private_file,
)

SECRET_KEYS = "EVENT_TRIGGERS_SECRET_KEYS"
TOKEN_SIGNING_KEY = "EVENT_TRIGGERS_TOKEN_SIGNING_KEY"
SERVER_KEY = "EVENT_TRIGGERS_SERVER_KEY"
PAYLOAD_ENCRYPTION_KEYS = "EVENT_TRIGGERS_PAYLOAD_ENCRYPTION_KEYS"


class MissingKey(ValueError):
    """A key setting is unset outside dev mode."""

    def __init__(self, setting_name: str) -> None:
        super().__init__(
            f"{setting_name} is not set: outside dev mode every process reads its keys from the "
            "environment, the same on every replica (`event-triggers keys generate` prints a set)"
        )


DEV_SERVER_KEY_FILE = "server.key"
"""The dev stack's generated ``EVENT_TRIGGERS_SERVER_KEY``, in its data dir."""


def _dev_key_file(settings: Settings, setting_name: str, file_name: str) -> Path:
    """Where the dev stack keeps its generated key for ``setting_name``; outside dev mode, ``MissingKey``."""
    if not settings.dev_mode:
        raise MissingKey(setting_name)
    return settings.data_dir / file_name


def parse_hmac_key(value: str, *, setting_name: str) -> bytes:
    """``<base64 of at least 32 random bytes>``; errors name the setting, never the key."""
    try:
        key = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        message = f"{setting_name} must be base64 (`event-triggers keys generate` prints a key)"
        raise ValueError(message) from None
    try:
        check_key_strength(key)
    except ValueError as weak:
        raise ValueError(f"{setting_name} {weak}") from None
    return key


def load_secret_box(settings: Settings) -> SecretBox:
    """Encrypts subscriber credentials and signing secrets at rest (``EVENT_TRIGGERS_SECRET_KEYS``)."""
    if settings.secret_keys:
        keys, current = parse_keys(settings.secret_keys, setting_name=SECRET_KEYS)
        return SecretBox(keys, current)
    key_id, key = load_or_create_keyfile(_dev_key_file(settings, SECRET_KEYS, "secret.key"))
    return SecretBox({key_id: key}, key_id)


class DeferredSecretBox:
    """``load_secret_box`` on first use: a command that never touches credentials (``event-triggers
    clients``) needs no key and leaves no key file behind. The API and workers check the key at start
    (``key_problems``)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @cached_property
    def _box(self) -> SecretBox:
        return load_secret_box(self.settings)

    def encrypt(self, plaintext: str) -> str:
        return self._box.encrypt(plaintext)

    def decrypt(self, token: str) -> str:
        return self._box.decrypt(token)


def secret_box(settings: Settings) -> DeferredSecretBox:
    """The store's sealer: ``load_secret_box`` once a credential is sealed or opened."""
    return DeferredSecretBox(settings)


def load_server_key(settings: Settings) -> bytes:
    """Derives invocation secrets (``EVENT_TRIGGERS_SERVER_KEY``): the API that checks a callback and the
    worker that sent the secret must hold the same key."""
    if settings.server_key:
        return parse_hmac_key(settings.server_key, setting_name=SERVER_KEY)
    path = _dev_key_file(settings, SERVER_KEY, DEV_SERVER_KEY_FILE)
    return read_or_create_private_file(path, lambda: secrets.token_hex(32).encode()).strip()


def token_signing_key(settings: Settings) -> bytes:
    """Signs access tokens (``EVENT_TRIGGERS_TOKEN_SIGNING_KEY``), so any replica accepts any token."""
    if settings.token_signing_key:
        return parse_hmac_key(settings.token_signing_key, setting_name=TOKEN_SIGNING_KEY)
    path = _dev_key_file(settings, TOKEN_SIGNING_KEY, "token.key")
    return base64.b64decode(read_or_create_private_file(path, lambda: base64.b64encode(generate_key())))


def key_problems(settings: Settings) -> list[str]:
    """Why this process cannot use its key settings, one message per setting (empty: all good)."""
    problems = []
    for load in (load_secret_box, load_server_key, token_signing_key):
        try:
            load(settings)
        except ValueError as problem:
            problems.append(str(problem))
    if settings.payload_encryption_keys:
        try:
            parse_keys(settings.payload_encryption_keys, setting_name=PAYLOAD_ENCRYPTION_KEYS)
        except ValueError as problem:
            problems.append(str(problem))
    return problems


def generate_keys() -> dict[str, str]:
    """A fresh set of every key setting, in its documented format (key ids carry today's date)."""
    key_id = f"k{datetime.now(UTC):%Y%m%d}"

    def encoded() -> str:
        return base64.b64encode(generate_key()).decode("ascii")

    return {
        SECRET_KEYS: f"{key_id}:{encoded()}",
        TOKEN_SIGNING_KEY: encoded(),
        SERVER_KEY: encoded(),
        PAYLOAD_ENCRYPTION_KEYS: f"{key_id}:{encoded()}",
    }
