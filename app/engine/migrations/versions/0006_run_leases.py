"""Run leases: the worker answering a run (``owner``) and until when its claim holds
(``lease_until``, Unix time), so that several workers can share one database and take over
the runs of a worker that died.

Unfinished runs from before get an expired lease with no owner: the next worker to start
takes them over (marks them interrupted and continues them by policy), as before.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_UNFINISHED = ("queued", "connecting", "streaming", "retrying", "continuing")


# Plain ALTERs, not a batch: SQLite's table copy would drop ``run``, which other tables reference.
def upgrade() -> None:
    op.add_column("run", sa.Column("owner", sqlmodel.sql.sqltypes.AutoString(), nullable=True))
    op.add_column("run", sa.Column("lease_until", sa.Float(), nullable=True))
    op.create_index(op.f("ix_run_lease_until"), "run", ["lease_until"], unique=False)
    run = sa.table("run", sa.column("state", sa.String), sa.column("lease_until", sa.Float))
    op.execute(run.update().where(run.c.state.in_(_UNFINISHED)).values(lease_until=0.0))


def downgrade() -> None:
    op.drop_index(op.f("ix_run_lease_until"), table_name="run")
    op.drop_column("run", "lease_until")
    op.drop_column("run", "owner")
