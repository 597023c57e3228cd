"""Dead endpoints: each subscription's failure streak, and why and when it was disabled automatically.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _columns() -> list[sa.Column[object]]:
    return [
        sa.Column("failing_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failure_count", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("last_failure", sa.Text(), nullable=True),
        sa.Column("last_failed_invocation", sa.String(length=64), nullable=True),
        sa.Column("disabled_reason", sa.Text(), nullable=True),
        sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True),
    ]


def upgrade() -> None:
    with op.batch_alter_table("subscriptions") as table:
        for column in _columns():
            table.add_column(column)


def downgrade() -> None:
    with op.batch_alter_table("subscriptions") as table:
        for column in reversed(_columns()):
            table.drop_column(column.name)
