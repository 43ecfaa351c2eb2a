"""Failed sign-ins in the database (``login_failure``), so that the sign-in throttle counts
them across every worker of the instance (and across restarts).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "login_failure",
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("last_at", sa.Float(), nullable=False),
        sa.Column("locked_until", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_index(op.f("ix_login_failure_last_at"), "login_failure", ["last_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_login_failure_last_at"), table_name="login_failure")
    op.drop_table("login_failure")
