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


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class History:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def conversations(self, search: str = "", limit: int = 200) -> list[ConversationSummary]:
        """Newest first; with ``search``, those whose title or any message contains it (any case)."""
        query = select(Conversation.id, Conversation.title, Conversation.updated_at)
        if search.strip():
            pattern = f"%{_escape_like(search.strip())}%"
            in_messages = select(Message.conversation_id).where(Message.content.ilike(pattern, escape="\\"))
            query = query.where(Conversation.title.ilike(pattern, escape="\\") | Conversation.id.in_(in_messages))
        query = query.order_by(Conversation.updated_at.desc()).limit(limit)
        with self.engine.connect() as connection:
            return [ConversationSummary(*row) for row in connection.execute(query)]

    def conversation(self, conversation_id: str) -> ConversationSummary | None:
        query = select(Conversation.id, Conversation.title, Conversation.updated_at).where(
            Conversation.id == conversation_id
        )
        with self.engine.connect() as connection:
            row = connection.execute(query).first()
            return ConversationSummary(*row) if row else None

    def messages(self, conversation_id: str) -> list[MessageView]:
        query = (
            select(Message.id, Message.role, Message.content, Message.run_id, Run.state, Run.provider, Run.detail,
                   Run.last_seq)
            .outerjoin(Run, Run.id == Message.run_id)
            .where(Message.conversation_id == conversation_id)
            .order_by(Message.position)
        )
        with self.engine.connect() as connection:
            return [
                MessageView(id, role, content, run_id, RunState(state) if state else None, provider, detail or "",
                            last_seq or 0)
                for id, role, content, run_id, state, provider, detail, last_seq in connection.execute(query)
            ]

    def chat_context(self, conversation_id: str, answer_message_id: str) -> list[ChatMessage]:
        """The messages a run answers: everything before its answer, unfinished answers left out."""
        context = []
        for message in self.messages(conversation_id):
            if message.id == answer_message_id:
                break
            if message.content:
                context.append(ChatMessage(role=message.role, content=message.content))
        return context
