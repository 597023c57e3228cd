"""Schema migrations on SQLite and PostgreSQL: data survives upgrades, only ``setup`` changes the schema."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine

from event_triggers.config import Settings
from event_triggers.keys import secret_box
from event_triggers.migrations import BASELINE, SchemaNotReady, head_revision, upgrade_schema
from event_triggers.models import SubscriptionFields
from event_triggers.store import Base, Store
from tests.conftest import TEST_KEY_ENVIRONMENT

CREATED = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
DOCUMENT = {
    "name": "feed",
    "description": "made before revisions existed",
    "triggerId": "idn:identity-created",
    "type": "HTTP",
    "responseDeadline": "PT1H",
    "httpConfig": {
        "url": "https://hooks.example.com/feed",
        "httpDispatchMode": "SYNC",
        "httpAuthenticationType": "BEARER_TOKEN",
        "bearerTokenAuthConfig": {"bearerToken": None},
        "basicAuthConfig": None,
    },
    "eventBridgeConfig": None,
    "enabled": True,
    "filter": "$[?(@.identity)]",
}
CREDENTIALS = {
    "httpConfig.bearerTokenAuthConfig.bearerToken": "tok-before-upgrade",
    "signingSecrets": [{"secret": "whsec_b2xk", "expires": None}],
}

subscriptions_0001 = sa.table(
    "subscriptions",
    sa.column("id"),
    sa.column("trigger_id"),
    sa.column("enabled", sa.Boolean),
    sa.column("document", sa.JSON),
    sa.column("credentials"),
    sa.column("created", sa.DateTime(timezone=True)),
    sa.column("modified", sa.DateTime(timezone=True)),
)
api_clients_0001 = sa.table(
    "api_clients",
    sa.column("client_id"),
    sa.column("name"),
    sa.column("secret_hash"),
    sa.column("scopes", sa.JSON),
    sa.column("created", sa.DateTime(timezone=True)),
)


async def fill_baseline_schema(url: str, settings: Settings, *, drop_version_table: bool) -> None:
    """Rows as the baseline schema's code wrote them (credentials sealed, secrets out of the document)."""
    engine = create_async_engine(url)
    try:
        async with engine.begin() as connection:
            if drop_version_table:  # what `create_all` made before migrations existed
                await connection.execute(sa.text("DROP TABLE alembic_version"))
            await connection.execute(
                subscriptions_0001.insert().values(
                    id="s-old",
                    trigger_id="idn:identity-created",
                    enabled=True,
                    document=DOCUMENT,
                    credentials=secret_box(settings).encrypt(json.dumps(CREDENTIALS)),
                    created=CREATED,
                    modified=CREATED,
                )
            )
            await connection.execute(
                api_clients_0001.insert().values(
                    client_id="c-old",
                    name="producer",
                    secret_hash="$argon2$x",
                    scopes=["sp:trigger-service-subscriptions:read"],
                    created=CREATED,
                )
            )
    finally:
        await engine.dispose()


@pytest.mark.parametrize("made_before_migrations", [False, True], ids=["migrated", "create_all"])
async def test_upgrade_keeps_every_row_of_the_previous_schema(
    empty_database_url: str, make_settings: Callable[..., Settings], made_before_migrations: bool
) -> None:
    settings = make_settings(database_url=empty_database_url)
    assert await upgrade_schema(empty_database_url, target=BASELINE) == (None, BASELINE)
    await fill_baseline_schema(empty_database_url, settings, drop_version_table=made_before_migrations)

    assert await upgrade_schema(empty_database_url) == (BASELINE, head_revision())

    store = await Store.open(settings)
    try:
        old = await store.get_subscription("s-old")
        assert old is not None and old.revision == 1
        expected = SubscriptionFields.model_validate(DOCUMENT).model_dump()
        expected["httpConfig"]["bearerTokenAuthConfig"]["bearerToken"] = "tok-before-upgrade"
        assert old.model_dump(include=set(expected)) == expected
        stamps = [
            stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC) for stamp in (old.created, old.modified)
        ]
        assert stamps == [CREATED, CREATED], "SQLite returns naive UTC, PostgreSQL aware"
        assert old.active_signing_secrets(datetime.now(UTC)) == ["whsec_b2xk"]
        [client] = await store.list_clients()
        assert (client.client_id, client.name, client.scopes) == (
            "c-old",
            "producer",
            ["sp:trigger-service-subscriptions:read"],
        )
        edited = await store.replace_subscription(
            subscription_id="s-old",
            fields=SubscriptionFields.model_validate(old.model_dump(include=set(expected))),
        )
        assert edited.revision == 2, "an edit after the upgrade bumps the revision"
    finally:
        await store.close()


async def test_migrations_make_exactly_the_schema_of_the_models(database_url: str) -> None:
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as connection:
            differences = await connection.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync), Base.metadata)
            )
    finally:
        await engine.dispose()
    assert differences == [], "a model change needs a migration (event_triggers/migrations/versions)"


async def test_concurrent_setups_on_a_fresh_database_do_not_collide(empty_database_url: str) -> None:
    results = await asyncio.gather(*(upgrade_schema(empty_database_url) for _ in range(4)))
    head = head_revision()
    assert sorted(results, key=str) == sorted([(None, head)] + [(head, head)] * 3, key=str)


async def test_processes_wait_for_setup_and_never_create_the_schema(
    empty_database_url: str, make_settings: Callable[..., Settings]
) -> None:
    impatient = make_settings(database_url=empty_database_url, schema_wait=timedelta(seconds=0.2))
    with pytest.raises(SchemaNotReady, match="Run `event-triggers setup`"):
        await Store.open(impatient)

    waiting = asyncio.create_task(
        Store.open(make_settings(database_url=empty_database_url, schema_wait=timedelta(seconds=30)))
    )
    await asyncio.wait({waiting}, timeout=1.0)
    assert not waiting.done(), "the store waits for the schema instead of creating it"
    await upgrade_schema(empty_database_url)
    store = await waiting
    await store.close()


@pytest.mark.parametrize("command", ["api", "worker"])
def test_api_and_worker_on_an_empty_store_exit_naming_setup(
    command: str, sqlite_url: str, temporal_address: str, tmp_path: Path
) -> None:
    empty = sqlite_url.replace("store.db", "empty.db")
    result = subprocess.run(
        [sys.executable, "-m", "event_triggers.cli", command],
        env={
            **os.environ,
            "EVENT_TRIGGERS_DATABASE_URL": empty,
            "EVENT_TRIGGERS_DATA_DIR": str(tmp_path),
            "EVENT_TRIGGERS_TEMPORAL_ADDRESS": temporal_address,
            "EVENT_TRIGGERS_SCHEMA_WAIT": "PT0.5S",
            "EVENT_TRIGGERS_PUBLIC_BASE_URL": "https://triggers.example.com",
            **TEST_KEY_ENVIRONMENT,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert "Run `event-triggers setup`" in result.stderr
    assert "Traceback" not in result.stderr
