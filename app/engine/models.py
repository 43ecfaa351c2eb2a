"""SQLModel tables: conversation, message, run and the run event log; users and what signs
them in (sessions, API tokens, invites) and failed sign-ins; instance-wide settings.

A conversation holds messages; an assistant message is produced by a run; a run owns an
append-only log of events ``(run_id, seq)`` with seq 1, 2, 3 … and no gaps. The log is the
source of truth for an answer: ``message.content`` of an assistant message is a snapshot
written in the same commit as the run's ``end`` event, for listing and search.

Every conversation and run belongs to a user (``user_id``; a message through its
conversation). With authentication off, that user is the ``local`` one.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import JSON, Boolean, Column, Index, Integer, Text
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


LOCAL_USER_ID = "local"  # the one user of an instance without authentication


class User(SQLModel, table=True):
    id: str = Field(primary_key=True)
    name: str = Field(unique=True)  # the login name, lower case
    password_hash: str | None = None  # argon2; None for proxy users and the local user
    is_admin: bool = Field(default=False, sa_column=Column(Boolean, nullable=False, server_default="0"))
    disabled: bool = Field(default=False, sa_column=Column(Boolean, nullable=False, server_default="0"))
    # Per-user limits; None: the instance's default.
    messages_per_minute: int | None = None
    concurrent_runs: int | None = None
    daily_token_budget: int | None = None
    created_at: datetime = Field(default_factory=utcnow)


class AuthSession(SQLModel, table=True):
    """A browser's sign-in. The cookie holds a random token; only its SHA-256 is stored."""

    __tablename__ = "auth_session"
    id: str = Field(primary_key=True)  # sha256 of the token
    user_id: str = Field(foreign_key="user.id", index=True)
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime


class ApiToken(SQLModel, table=True):
    """A user's token for the HTTP API (``Authorization: Bearer``); shown once, stored hashed."""

    __tablename__ = "api_token"
    id: str = Field(primary_key=True)  # a short public id, to list and revoke it
    user_id: str = Field(foreign_key="user.id", index=True)
    name: str
    token_hash: str = Field(unique=True)
    created_at: datetime = Field(default_factory=utcnow)
    last_used_at: datetime | None = None


class Invite(SQLModel, table=True):
    id: str = Field(primary_key=True)  # sha256 of the code
    created_by: str = Field(foreign_key="user.id")
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    used_by: str | None = None


class InstanceSetting(SQLModel, table=True):
    """Settings an admin changes at run time (sign-up mode, provider keys and models)."""

    __tablename__ = "instance_setting"
    key: str = Field(primary_key=True)
    value: str = Field(sa_column=Column(Text, nullable=False))


class LoginFailure(SQLModel, table=True):
    """Failed sign-ins of one throttle key (a login name or an address), shared by every
    worker (login_throttle.py). The key is stored as its SHA-256: no attempted name is kept."""

    __tablename__ = "login_failure"
    key: str = Field(primary_key=True)
    count: int
    last_at: float = Field(index=True)  # Unix time of the last failure
    locked_until: float  # Unix time; before it, sign-ins of this key are refused


class Conversation(SQLModel, table=True):
    id: str = Field(primary_key=True)
    user_id: str = Field(index=True)
    title: str
    # The last message of the branch on screen: the conversation shows the path from its first
    # message to this one (messages form a tree; an edited question or a regenerated answer
    # starts a sibling branch).
    current_leaf_id: str | None = None
    # Settings for the next answers; None (or "") means the configured default.
    model: str | None = None  # "provider:model"
    system_prompt: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    max_tokens: int | None = None
    temperature: float | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow, index=True)


class Message(SQLModel, table=True):
    id: str = Field(primary_key=True)
    conversation_id: str = Field(foreign_key="conversation.id", index=True)
    # The message this one follows in its branch (None: a first question). Siblings, i.e.
    # messages with the same parent, are the versions of one turn.
    parent_id: str | None = Field(default=None, index=True)
    position: int  # creation order within the conversation; orders siblings
    role: str  # "user" | "assistant"
    content: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    run_id: str | None = Field(default=None, index=True)
    created_at: datetime = Field(default_factory=utcnow)


class Run(SQLModel, table=True):
    id: str = Field(primary_key=True)  # unguessable: 128 random bits
    conversation_id: str = Field(foreign_key="conversation.id", index=True)
    user_id: str = Field(index=True)
    message_id: str = Field(foreign_key="message.id")
    # "<user id>/<the client's id>": one client's resend finds its run, never another user's.
    client_request_id: str = Field(unique=True)
    provider: str
    model: str
    # The request parameters, fixed when the run starts (continuations and retries reuse them).
    max_tokens: int | None = None
    temperature: float | None = None
    system_prompt: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    state: str
    last_seq: int = 0
    finish_reason: str | None = None
    error: str | None = None  # the cause code of a failed / interrupted ending
    detail: str = ""  # what the last end event told the user, e.g. why it failed
    attempts: list[dict] = Field(default_factory=list, sa_column=Column(JSON, nullable=False, default=list))
    tokens: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))  # as of its last end
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow, index=True)
    # The worker answering it, and until when (Unix time) its claim holds unless renewed;
    # None once nobody answers it (leases.py).
    owner: str | None = None
    lease_until: float | None = Field(default=None, index=True)


class RunEvent(SQLModel, table=True):
    __tablename__ = "run_event"
    # The composite primary key is the replay index: events_after(run, seq) is a range scan.
    run_id: str = Field(foreign_key="run.id", primary_key=True)
    seq: int = Field(primary_key=True)
    kind: str
    data: str = Field(sa_column=Column(Text, nullable=False))


class RunTrace(SQLModel, table=True):
    """What happened around a run besides its events: event-stream connections seen by the
    server and connection trouble reported by browsers. For the run's timeline and support
    report; never needed to deliver the answer."""

    __tablename__ = "run_trace"
    id: int | None = Field(default=None, primary_key=True)
    run_id: str = Field(foreign_key="run.id", index=True)
    at: datetime = Field(default_factory=utcnow)
    source: str  # "server" | "browser"
    kind: str  # e.g. "stream_open", "stream_close", "reconnect", "offline", "online", "gap"
    data: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False, default=dict))


Index("ix_message_conversation_position", Message.conversation_id, Message.position)
Index("ix_run_user_created", Run.user_id, Run.created_at)
