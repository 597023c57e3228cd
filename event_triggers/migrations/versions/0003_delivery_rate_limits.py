"""The rate limiter's state per subscription with ``maxDeliveriesPerSecond``, shared by every worker.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "delivery_rate_limits",
        sa.Column("subscription_id", sa.String(length=64), primary_key=True),
        sa.Column("next_slot", sa.Double(), nullable=False),
        sa.Column("next_start", sa.Double(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("delivery_rate_limits")
