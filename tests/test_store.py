"""The store on SQLite and PostgreSQL: credentials are encrypted at rest and survive key rotation."""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import timedelta

import asyncpg
from sqlalchemy import text

from event_triggers.config import Settings
from event_triggers.destinations.http import HTTP
from event_triggers.models import SubscriptionFields
from event_triggers.security.secret_box import generate_key
from event_triggers.store import Store
from tests.conftest import POSTGRES_ADMIN_DSN


def key_setting(*entries: tuple[str, bytes]) -> str:
    return ",".join(f"{key_id}:{base64.b64encode(key).decode()}" for key_id, key in entries)


def bearer_subscription(token: str) -> SubscriptionFields:
    return SubscriptionFields.model_validate(
        {
            "name": "feed",
            "triggerId": "idn:identity-created",
            "type": "HTTP",
            "httpConfig": {
                "url": "https://hooks.example.com",
                "httpAuthenticationType": "BEARER_TOKEN",
                "bearerTokenAuthConfig": {"bearerToken": token},
            },
        }
    )


async def test_credentials_encrypted_at_rest_and_key_rotation(
    make_settings: Callable[..., Settings], database_url: str
) -> None:
    old_key, new_key = ("k1", generate_key()), ("k2", generate_key())
    fields = bearer_subscription("tok-very-secret")
    store = await Store.open(make_settings(database_url=database_url, secret_keys=key_setting(old_key)))
    try:
        await store.add_subscription(subscription_id="s1", fields=fields, signing_secret="whsec_dGVzdA==")
        async with store.engine.connect() as connection:
            raw = (await connection.execute(text("SELECT document, credentials FROM subscriptions"))).one()
        assert "tok-very-secret" not in str(raw.document) + raw.credentials
        assert raw.credentials.startswith("v1:k1:")
    finally:
        await store.close()

    rotated = await Store.open(
        make_settings(database_url=database_url, secret_keys=key_setting(new_key, old_key))
    )
    try:
        loaded = await rotated.get_subscription("s1")
        assert loaded is not None
        config = HTTP.config(loaded)
        assert config.bearerTokenAuthConfig is not None
        assert config.bearerTokenAuthConfig.bearerToken == "tok-very-secret"
        await rotated.replace_subscription(subscription_id="s1", fields=fields)
        async with rotated.engine.connect() as connection:
            credentials = (
                await connection.execute(text("SELECT credentials FROM subscriptions"))
            ).scalar_one()
        assert credentials.startswith("v1:k2:")
        assert await rotated.list_subscriptions(trigger_id="idn:identity-created", enabled_only=True)
        assert await rotated.count_subscriptions(trigger_id="idn:identity-created") == 1
        assert await rotated.delete_subscription("s1")
        assert await rotated.get_subscription("s1") is None
    finally:
        await rotated.close()


async def test_rotations_keep_credentials_and_at_most_three_old_signing_secrets(
    make_settings: Callable[..., Settings], sqlite_url: str
) -> None:
    fields = bearer_subscription("tok-kept")
    store = await Store.open(make_settings(database_url=sqlite_url))
    try:
        await store.add_subscription(subscription_id="s1", fields=fields, signing_secret="whsec_MA==")
        for number in range(1, 6):
            rotated = await store.rotate_signing_secret(
                subscription_id="s1", new_secret=f"whsec_{number}", grace=timedelta(hours=1)
            )
        assert rotated is not None
        assert [item.secret for item in rotated.signingSecrets] == [
            "whsec_5",
            "whsec_4",
            "whsec_3",
            "whsec_2",
        ], "the current secret and the newest three old ones"
        token = HTTP.config(rotated).bearerTokenAuthConfig
        assert token is not None and token.bearerToken == "tok-kept", "a rotation keeps the credentials"
    finally:
        await store.close()


async def test_lists_for_people_leave_the_credentials_sealed(
    make_settings: Callable[..., Settings], database_url: str
) -> None:
    """The Administration UI's lists read subscriptions with ``secrets=False``: no credential decrypted."""
    store = await Store.open(make_settings(database_url=database_url))
    try:
        await store.add_subscription(
            subscription_id="s1",
            fields=bearer_subscription("tok-kept-sealed"),
            signing_secret="whsec_dGVzdA==",
        )
        [full] = await store.list_subscriptions()
        [listed] = await store.list_subscriptions(secrets=False)
        token = HTTP.config(full).bearerTokenAuthConfig
        assert full.signingSecrets and token is not None and token.bearerToken == "tok-kept-sealed"
        assert listed.signingSecrets == [] and "tok-kept-sealed" not in listed.model_dump_json()
        assert HTTP.config(listed).url == "https://hooks.example.com", "the public settings are all there"
    finally:
        await store.close()


async def test_subscription_names_are_read_by_the_database(
    make_settings: Callable[..., Settings], database_url: str
) -> None:
    """The UI's filter choices: each name by id, newest first, a quote in a name kept as written."""
    store = await Store.open(make_settings(database_url=database_url))
    try:
        for index, name in enumerate(["first", 'say "hi" \\ there']):
            fields = bearer_subscription("tok").model_copy(update={"name": name})
            await store.add_subscription(
                subscription_id=f"s{index}", fields=fields, signing_secret="whsec_dGVzdA=="
            )
        assert list((await store.subscription_names()).items()) == [
            ("s1", 'say "hi" \\ there'),
            ("s0", "first"),
        ]
    finally:
        await store.close()


async def test_a_connection_the_server_dropped_is_replaced_before_a_read(
    make_settings: Callable[..., Settings], database_url: str
) -> None:
    """A database server may close pooled connections (a restart, a proxy's idle timeout): the next
    read still answers. SQLite has no server to drop them (its connections are not pinged)."""
    store = await Store.open(make_settings(database_url=database_url))
    try:
        await store.add_subscription(
            subscription_id="s1", fields=bearer_subscription("tok"), signing_secret="whsec_dGVzdA=="
        )
        assert await store.startable_revisions(trigger_id="idn:identity-created") == {"s1": 1}
        if store.engine.dialect.name == "postgresql":
            admin = await asyncpg.connect(POSTGRES_ADMIN_DSN)
            try:
                dropped = await admin.fetchval(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = $1",
                    store.engine.url.database,
                )
            finally:
                await admin.close()
            assert dropped >= 1
        assert await store.startable_revisions(trigger_id="idn:identity-created") == {"s1": 1}
        assert (await store.get_subscription("s1")) is not None
    finally:
        await store.close()
