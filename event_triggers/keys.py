"""Key material from settings, or generated once into the data dir for the dev stack."""

from __future__ import annotations

from event_triggers.config import Settings
from event_triggers.security.secret_box import SecretBox, load_or_create_keyfile, parse_keys


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
