"""Key material from settings, or generated once into the data dir for the dev stack."""

from __future__ import annotations

import base64
import secrets

from event_triggers.config import Settings
from event_triggers.security.secret_box import (
    SecretBox,
    generate_key,
    load_or_create_keyfile,
    parse_keys,
    read_or_create_private_file,
)


def secret_box(settings: Settings) -> SecretBox:
    """Encrypts subscriber credentials and signing secrets at rest.

    ``EVENT_TRIGGERS_SECRET_KEYS="kid2:<b64>,kid1:<b64>"`` (first = current, the rest still decrypt);
    without it a key is generated into ``<data_dir>/secret.key``.
    """
    if settings.secret_keys:
        keys, current = parse_keys(settings.secret_keys, setting_name="EVENT_TRIGGERS_SECRET_KEYS")
        return SecretBox(keys, current)
    key_id, key = load_or_create_keyfile(settings.data_dir / "secret.key")
    return SecretBox({key_id: key}, key_id)


def load_server_key(settings: Settings) -> bytes:
    """Derives invocation secrets: ``EVENT_TRIGGERS_SERVER_KEY``, else ``<data_dir>/server.key``.

    Every process on the machine must derive the same invocation secrets, so they share the file.
    """
    if settings.server_key:
        return settings.server_key.encode()
    return read_or_create_private_file(
        settings.data_dir / "server.key", lambda: secrets.token_hex(32).encode()
    ).strip()


def token_signing_key(settings: Settings) -> bytes:
    """``EVENT_TRIGGERS_TOKEN_SIGNING_KEY`` (base64, >= 32 bytes) or a key generated into the data dir."""
    if settings.token_signing_key:
        return base64.b64decode(settings.token_signing_key)
    encoded = read_or_create_private_file(
        settings.data_dir / "token.key", lambda: base64.b64encode(generate_key())
    )
    return base64.b64decode(encoded)
