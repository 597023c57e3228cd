"""Alembic environment: runs on the connection ``event_triggers.migrations`` hands over (one transaction)."""

from __future__ import annotations

from alembic import context

from event_triggers.store import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
