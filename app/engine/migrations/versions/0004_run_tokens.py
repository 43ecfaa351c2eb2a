"""Each run's token count (for the daily budget), and an index to sum the day's runs.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


# Plain ALTERs, not a batch: SQLite's table copy would drop ``run``, which other tables reference.
def upgrade() -> None:
    op.add_column("run", sa.Column("tokens", sa.Integer(), nullable=False, server_default="0"))
    op.create_index(op.f("ix_run_updated_at"), "run", ["updated_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_run_updated_at"), table_name="run")
    op.drop_column("run", "tokens")
