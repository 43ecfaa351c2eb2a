"""Reading conversations: the sidebar list, a conversation's messages, a run's chat context.

Read-only; the writes happen in ``store.Store.create_run`` and the log writer.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.engine import Engine

from app.engine.models import Conversation, Message, Run
from app.engine.providers.base import ChatMessage
from app.engine.states import RunState


@dataclasses.dataclass(frozen=True)
class ConversationSummary:
    id: str
    title: str
    updated_at: datetime


@dataclasses.dataclass(frozen=True)
class MessageView:
    id: str
    role: str
    content: str  # for an answer: the snapshot written when its run ended ("" before)
    run_id: str | None
    run_state: RunState | None
    provider: str | None
    detail: str = ""
    last_seq: int = 0
    # This message among its siblings (the versions of one turn): number ``version`` of
    # ``versions``, and the ids of the versions before and after it (None at either end).
    version: int = 1
    versions: int = 1
    previous_version_id: str | None = None
    next_version_id: str | None = None


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class History:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def conversations(self, user_id: str, search: str = "", limit: int = 200) -> list[ConversationSummary]:
        """The user's, newest first; with ``search``, those whose title or any message contains
        it (any case)."""
        query = select(Conversation.id, Conversation.title, Conversation.updated_at).where(
            Conversation.user_id == user_id)
        if search.strip():
            pattern = f"%{_escape_like(search.strip())}%"
            in_messages = select(Message.conversation_id).where(Message.content.ilike(pattern, escape="\\"))
            query = query.where(Conversation.title.ilike(pattern, escape="\\") | Conversation.id.in_(in_messages))
        query = query.order_by(Conversation.updated_at.desc()).limit(limit)
        with self.engine.connect() as connection:
            return [ConversationSummary(*row) for row in connection.execute(query)]

    def conversation(self, conversation_id: str, user_id: str) -> ConversationSummary | None:
        """The conversation, or None when it does not exist or is another user's."""
        query = select(Conversation.id, Conversation.title, Conversation.updated_at).where(
            Conversation.id == conversation_id, Conversation.user_id == user_id
        )
        with self.engine.connect() as connection:
            row = connection.execute(query).first()
            return ConversationSummary(*row) if row else None

    def messages(self, conversation_id: str, user_id: str) -> list[MessageView]:
        """The branch on screen: from the first question to the conversation's current leaf
        (nothing when the conversation is another user's)."""
        query = (
            select(Message.id, Message.parent_id, Message.role, Message.content, Message.run_id, Run.state,
                   Run.provider, Run.detail, Run.last_seq)
            .outerjoin(Run, Run.id == Message.run_id)
            .where(Message.conversation_id == conversation_id)
            .order_by(Message.position)
        )
        leaf_query = select(Conversation.current_leaf_id).where(
            Conversation.id == conversation_id, Conversation.user_id == user_id)
        with self.engine.connect() as connection:
            owner_leaf = connection.execute(leaf_query).first()
            rows = {row.id: row for row in connection.execute(query)} if owner_leaf else {}
        leaf_id = owner_leaf[0] if owner_leaf else None
        if not rows:
            return []
        children: dict[str | None, list[str]] = {}
        for row in rows.values():  # in creation order
            children.setdefault(row.parent_id, []).append(row.id)
        if leaf_id not in rows:
            leaf_id = next(reversed(rows))
        path = []
        while leaf_id is not None:
            path.append(rows[leaf_id])
            leaf_id = rows[leaf_id].parent_id
        return [self._view(row, children[row.parent_id]) for row in reversed(path)]

    @staticmethod
    def _view(row, siblings: list[str]) -> MessageView:
        index = siblings.index(row.id)
        return MessageView(
            row.id, row.role, row.content, row.run_id, RunState(row.state) if row.state else None, row.provider,
            row.detail or "", row.last_seq or 0,
            version=index + 1,
            versions=len(siblings),
            previous_version_id=siblings[index - 1] if index > 0 else None,
            next_version_id=siblings[index + 1] if index + 1 < len(siblings) else None,
        )

    def chat_context(self, answer_message_id: str) -> list[ChatMessage]:
        """The messages a run answers: its branch up to its answer, unfinished answers left out."""
        query = select(Message.id, Message.parent_id, Message.role, Message.content).where(
            Message.conversation_id == select(Message.conversation_id).where(Message.id == answer_message_id)
            .scalar_subquery()
        )
        with self.engine.connect() as connection:
            rows = {row.id: row for row in connection.execute(query)}
        context = []
        message_id = rows[answer_message_id].parent_id if answer_message_id in rows else None
        while message_id is not None:
            row = rows[message_id]
            if row.content:
                context.append(ChatMessage(role=row.role, content=row.content))
            message_id = row.parent_id
        context.reverse()
        return context
