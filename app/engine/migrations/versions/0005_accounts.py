"""Accounts: users, sign-in sessions, API tokens, invites, instance settings; every
conversation and run gets an owner.

What existed before belongs to the ``local`` user (the one user of an instance without
authentication); the first account made later takes that user over, data included. Client
request ids become ``<user id>/<id>``, so a resend only ever finds its own user's run.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_STR = sqlmodel.sql.sqltypes.AutoString
_TIME = sqlmodel.sql.sqltypes.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "user",
        sa.Column("id", _STR(), nullable=False),
        sa.Column("name", _STR(), nullable=False),
        sa.Column("password_hash", _STR(), nullable=True),
        sa.Column("is_admin", sa.Boolean(), server_default="0", nullable=False),
        sa.Column("disabled", sa.Boolean(), server_default="0", nullable=False),
        sa.Column("messages_per_minute", sa.Integer(), nullable=True),
        sa.Column("concurrent_runs", sa.Integer(), nullable=True),
        sa.Column("daily_token_budget", sa.Integer(), nullable=True),
        sa.Column("created_at", _TIME(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "auth_session",
        sa.Column("id", _STR(), nullable=False),
        sa.Column("user_id", _STR(), nullable=False),
        sa.Column("created_at", _TIME(), nullable=False),
        sa.Column("expires_at", _TIME(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_auth_session_user_id"), "auth_session", ["user_id"], unique=False)
    op.create_table(
        "api_token",
        sa.Column("id", _STR(), nullable=False),
        sa.Column("user_id", _STR(), nullable=False),
        sa.Column("name", _STR(), nullable=False),
        sa.Column("token_hash", _STR(), nullable=False),
        sa.Column("created_at", _TIME(), nullable=False),
        sa.Column("last_used_at", _TIME(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index(op.f("ix_api_token_user_id"), "api_token", ["user_id"], unique=False)
    op.create_table(
        "invite",
        sa.Column("id", _STR(), nullable=False),
        sa.Column("created_by", _STR(), nullable=False),
        sa.Column("created_at", _TIME(), nullable=False),
        sa.Column("expires_at", _TIME(), nullable=False),
        sa.Column("used_by", _STR(), nullable=True),
        sa.ForeignKeyConstraint(["created_by"], ["user.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "instance_setting",
        sa.Column("key", _STR(), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    users = sa.table("user", sa.column("id", _STR()), sa.column("name", _STR()), sa.column("is_admin", sa.Boolean()),
                     sa.column("disabled", sa.Boolean()), sa.column("created_at", _TIME()))
    op.bulk_insert(users, [{"id": "local", "name": "local", "is_admin": True, "disabled": False,
                            "created_at": datetime.now(UTC)}])
    # Plain ALTERs, not a batch: SQLite's table copy would drop tables others reference. The
    # server default fills existing rows; the owner column of a new row is always given.
    for table in ("conversation", "run"):
        op.add_column(table, sa.Column("user_id", _STR(), nullable=False, server_default="local"))
        op.create_index(op.f(f"ix_{table}_user_id"), table, ["user_id"], unique=False)
    op.create_index("ix_run_user_created", "run", ["user_id", "created_at"], unique=False)
    op.execute(sa.text("UPDATE run SET client_request_id = 'local/' || client_request_id"))


def downgrade() -> None:
    op.execute(sa.text("UPDATE run SET client_request_id = substr(client_request_id, 7) "
                       "WHERE client_request_id LIKE 'local/%'"))
    op.drop_index("ix_run_user_created", table_name="run")
    for table in ("run", "conversation"):
        op.drop_index(op.f(f"ix_{table}_user_id"), table_name=table)
        op.drop_column(table, "user_id")
    op.drop_table("instance_setting")
    op.drop_table("invite")
    op.drop_index(op.f("ix_api_token_user_id"), table_name="api_token")
    op.drop_table("api_token")
    op.drop_index(op.f("ix_auth_session_user_id"), table_name="auth_session")
    op.drop_table("auth_session")
    op.drop_table("user")
