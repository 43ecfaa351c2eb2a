"""Branches and conversation settings.

Messages form a tree (``message.parent_id``) and a conversation remembers the branch on
screen (``conversation.current_leaf_id``), so an edited question or a regenerated answer
starts a sibling branch instead of being appended. Conversations get their own model,
system prompt, max_tokens and temperature; runs record the ones they used.

Existing conversations were linear, with regenerated answers appended at the end and
pointing at the answer they replaced through ``run.context_message_id``: each message's
parent becomes the message before it, except that a regenerated answer becomes a sibling of
the answer it replaced. Then ``context_message_id`` goes.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

conversation = sa.table("conversation", sa.column("id"), sa.column("current_leaf_id"))
message = sa.table(
    "message", sa.column("id"), sa.column("conversation_id"), sa.column("position"), sa.column("parent_id"),
    sa.column("run_id"),
)
run = sa.table("run", sa.column("id"), sa.column("message_id"), sa.column("context_message_id"))


def upgrade() -> None:
    with op.batch_alter_table("conversation") as batch_op:
        batch_op.add_column(sa.Column("current_leaf_id", sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch_op.add_column(sa.Column("model", sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch_op.add_column(sa.Column("system_prompt", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("max_tokens", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("temperature", sa.Float(), nullable=True))
    with op.batch_alter_table("message") as batch_op:
        batch_op.add_column(sa.Column("parent_id", sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch_op.create_index(batch_op.f("ix_message_parent_id"), ["parent_id"], unique=False)
    with op.batch_alter_table("run") as batch_op:
        batch_op.add_column(sa.Column("temperature", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("system_prompt", sa.Text(), nullable=False, server_default=""))
    _link_linear_history(op.get_bind())
    # A plain ALTER TABLE … DROP COLUMN (SQLite ≥ 3.35): copying the table, as batch mode
    # would, is refused while run_event rows reference it.
    op.drop_column("run", "context_message_id")


def _link_linear_history(connection: sa.Connection) -> None:
    replaced = dict(  # answer message → the answer message it regenerated
        connection.execute(
            sa.select(run.c.message_id, run.c.context_message_id).where(
                run.c.context_message_id.is_not(None), run.c.context_message_id != run.c.message_id
            )
        ).all()
    )
    rows = connection.execute(
        sa.select(message.c.id, message.c.conversation_id).order_by(message.c.conversation_id, message.c.position)
    ).all()
    parents: dict[str, str | None] = {}
    last: dict[str, str] = {}  # conversation → its latest message so far
    for message_id, conversation_id in rows:
        if message_id in replaced and replaced[message_id] in parents:
            parents[message_id] = parents[replaced[message_id]]
        else:
            parents[message_id] = last.get(conversation_id)
        last[conversation_id] = message_id
    for message_id, parent_id in parents.items():
        if parent_id is not None:
            connection.execute(sa.update(message).where(message.c.id == message_id).values(parent_id=parent_id))
    for conversation_id, leaf_id in last.items():
        connection.execute(
            sa.update(conversation).where(conversation.c.id == conversation_id).values(current_leaf_id=leaf_id)
        )


def downgrade() -> None:
    """Back to linear conversations: a regenerated answer points at the first answer to its
    question again; edited questions stay in the conversation in the order they were sent."""
    # Plain column changes (SQLite ≥ 3.35), for the same reason as above.
    op.add_column("run", sa.Column("context_message_id", sa.VARCHAR(), nullable=True))
    connection = op.get_bind()
    first_answer: dict[str, str] = {}  # question → its first answer
    answers = sa.select(message.c.id, message.c.parent_id, message.c.run_id).where(
        message.c.parent_id.is_not(None), message.c.run_id.is_not(None)
    )
    for message_id, parent_id, run_id in connection.execute(answers.order_by(message.c.position)).all():
        first = first_answer.setdefault(parent_id, message_id)
        if first != message_id:
            connection.execute(sa.update(run).where(run.c.id == run_id).values(context_message_id=first))
    op.drop_column("run", "system_prompt")
    op.drop_column("run", "temperature")
    op.drop_index(op.f("ix_message_parent_id"), table_name="message")
    op.drop_column("message", "parent_id")
    for column in ("temperature", "max_tokens", "system_prompt", "model", "current_leaf_id"):
        op.drop_column("conversation", column)
