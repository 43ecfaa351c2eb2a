"""SQLModel tables: conversation, message, run and the run event log.

A conversation holds messages; an assistant message is produced by a run; a run owns an
append-only log of events ``(run_id, seq)`` with seq 1, 2, 3 … and no gaps. The log is the
source of truth for an answer: ``message.content`` of an assistant message is a snapshot
written in the same commit as the run's ``end`` event, for listing and search.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import JSON, Column, Index, Text
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


class Conversation(SQLModel, table=True):
    id: str = Field(primary_key=True)
    title: str
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow, index=True)


class Message(SQLModel, table=True):
    id: str = Field(primary_key=True)
    conversation_id: str = Field(foreign_key="conversation.id", index=True)
    position: int  # order within the conversation: question n, its answer n + 1
    role: str  # "user" | "assistant"
    content: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    run_id: str | None = Field(default=None, index=True)
    created_at: datetime = Field(default_factory=utcnow)


class Run(SQLModel, table=True):
    id: str = Field(primary_key=True)  # unguessable: 128 random bits
    conversation_id: str = Field(foreign_key="conversation.id", index=True)
    message_id: str = Field(foreign_key="message.id")
    client_request_id: str = Field(unique=True)
    # The answer message whose preceding messages this run answers: its own message, or for
    # a retry the message of the answer it retries.
    context_message_id: str | None = None
    provider: str
    model: str
    max_tokens: int | None = None
    state: str
    last_seq: int = 0
    finish_reason: str | None = None
    error: str | None = None  # the cause code of a failed / interrupted ending
    detail: str = ""  # what the last end event told the user, e.g. why it failed
    attempts: list[dict] = Field(default_factory=list, sa_column=Column(JSON, nullable=False, default=list))
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class RunEvent(SQLModel, table=True):
    __tablename__ = "run_event"
    # The composite primary key is the replay index: events_after(run, seq) is a range scan.
    run_id: str = Field(foreign_key="run.id", primary_key=True)
    seq: int = Field(primary_key=True)
    kind: str
    data: str = Field(sa_column=Column(Text, nullable=False))


Index("ix_message_conversation_position", Message.conversation_id, Message.position)
