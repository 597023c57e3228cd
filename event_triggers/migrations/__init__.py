"""Schema migrations of the store (Alembic scripts shipped in the package, so an installed wheel migrates).

Only ``event-triggers setup`` changes the schema (the dev stack and the tests call ``upgrade_schema`` the
same way before they start processes). API and workers call ``wait_for_schema`` at start: they wait,
bounded, for the schema this code needs, then exit with a message naming ``setup``; they never create
tables themselves, so processes started together cannot race on a fresh database.

An upgrade runs in one transaction: on PostgreSQL under an advisory lock (concurrent setups queue, the
later ones find the schema current), on SQLite under ``BEGIN IMMEDIATE`` (the database's write lock).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, event, inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from event_triggers.errors import SchemaNotReady

SCRIPTS = Path(__file__).parent
BASELINE = "0001"
"""The schema ``create_all`` made before migrations existed: such a database is stamped with it first."""
ADVISORY_LOCK_ID = 7_314_628_913
"""PostgreSQL advisory lock held while migrating (any constant unique to this application)."""
POLL_INTERVAL = 0.5

logger = logging.getLogger(__name__)


def _alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(SCRIPTS))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The schema revision this code needs."""
    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    assert head is not None, "no migration scripts are packaged"
    return head


def known_revisions() -> set[str]:
    return {script.revision for script in ScriptDirectory.from_config(_alembic_config()).walk_revisions()}


def _upgrade(connection: Connection, target: str) -> tuple[str | None, str | None]:
    config = _alembic_config(connection)
    before = MigrationContext.configure(connection).get_current_revision()
    tables = set(inspect(connection).get_table_names())
    if before is None and "subscriptions" in tables:
        command.stamp(config, BASELINE)
        before = BASELINE
    command.upgrade(config, target)
    return before, MigrationContext.configure(connection).get_current_revision()


def _serialize_sqlite_transactions(engine: AsyncEngine) -> None:
    """SQLAlchemy's recipe for transactional DDL on SQLite: the driver leaves transactions to us, and
    each one starts with ``BEGIN IMMEDIATE``, which takes the database's write lock at once."""

    @event.listens_for(engine.sync_engine, "connect")
    def no_driver_transactions(dbapi_connection: object, record: object) -> None:
        dbapi_connection.isolation_level = None  # type: ignore[attr-defined]

    @event.listens_for(engine.sync_engine, "begin")
    def begin_immediate(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


async def upgrade_schema(database_url: str, *, target: str = "head") -> tuple[str | None, str | None]:
    """Bring the database to ``target`` (default: this code's head); returns (revision before, after)."""
    engine = create_async_engine(database_url, poolclass=NullPool)
    if engine.dialect.name == "sqlite":
        _serialize_sqlite_transactions(engine)
    try:
        async with engine.begin() as connection:
            if engine.dialect.name == "postgresql":
                await connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": ADVISORY_LOCK_ID})
            return await connection.run_sync(_upgrade, target)
    finally:
        await engine.dispose()


async def schema_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is at (None: no schema made by migrations)."""
    async with engine.connect() as connection:
        return await connection.run_sync(lambda sync: MigrationContext.configure(sync).get_current_revision())


async def wait_for_database(database_url: str, *, within: timedelta) -> None:
    """``wait_for_schema`` on a connection of its own, before a process builds anything else."""
    engine = create_async_engine(database_url, poolclass=NullPool)
    try:
        await wait_for_schema(engine, within=within)
    finally:
        await engine.dispose()


async def wait_for_schema(engine: AsyncEngine, *, within: timedelta) -> None:
    """Return once the schema is this code's head; raise ``SchemaNotReady`` after ``within``.

    A revision this code does not know was made by a newer release's ``setup`` during a rolling upgrade:
    migrations only add (columns with defaults, tables), so older processes keep working on it.
    """
    head = head_revision()
    deadline = asyncio.get_running_loop().time() + within.total_seconds()
    while True:
        try:
            current: str | None = await schema_revision(engine)
            problem = f"its schema is at revision {current or 'none (empty)'}, this version needs {head}"
        except Exception as exc:  # not reachable yet: keep waiting within the bound
            current, problem = None, f"cannot read its schema revision: {exc}"
        if current == head:
            return
        if current is not None and current not in known_revisions():
            logger.warning("store schema %s is newer than this version's %s; continuing", current, head)
            return
        if asyncio.get_running_loop().time() >= deadline:
            where = engine.url.render_as_string(hide_password=True)
            raise SchemaNotReady(
                f"the store {where} is not ready: {problem}. "
                "Run `event-triggers setup` to create or migrate it."
            )
        await asyncio.sleep(POLL_INTERVAL)
