"""Database access for runs, their event log and the conversations they belong to.

Plain synchronous functions over one SQLAlchemy engine; async callers run them with
``asyncio.to_thread`` so the event loop never waits on SQLite. The log writer is the only
code that appends events (``write_batch``); everything else reads or creates.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
import uuid

import sqlalchemy
from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Engine
from sqlmodel import Session

from app.engine.events import LogEvent
from app.engine.models import Conversation, Message, Run, RunEvent, utcnow
from app.engine.states import TERMINAL_STATES, RunState

TITLE_CHARS = 60


def new_run_id() -> str:
    """128 random bits, URL-safe: a run id cannot be guessed."""
    return secrets.token_urlsafe(16)


@dataclasses.dataclass(frozen=True)
class NewRun:
    content: str
    client_request_id: str
    conversation_id: str | None
    provider: str
    model: str
    max_tokens: int | None


@dataclasses.dataclass(frozen=True)
class RunRow:
    """A detached snapshot of a run row."""

    id: str
    conversation_id: str
    message_id: str
    context_message_id: str
    provider: str
    model: str
    max_tokens: int | None
    state: RunState
    last_seq: int
    finish_reason: str | None
    error: str | None
    detail: str
    attempts: list[dict]

    @classmethod
    def of(cls, run: Run) -> RunRow:
        return cls(
            id=run.id,
            conversation_id=run.conversation_id,
            message_id=run.message_id,
            context_message_id=run.context_message_id or run.message_id,
            provider=run.provider,
            model=run.model,
            max_tokens=run.max_tokens,
            state=RunState(run.state),
            last_seq=run.last_seq,
            finish_reason=run.finish_reason,
            error=run.error,
            detail=run.detail or "",
            attempts=list(run.attempts or []),
        )


@dataclasses.dataclass
class RunUpdate:
    """Columns of a run row that a batch of events changes (None: leave as is)."""

    last_seq: int
    state: RunState | None = None
    finish_reason: str | None = None
    error: str | None = None
    detail: str | None = None
    attempts: list[dict] | None = None
    final_text: str | None = None  # written to the run's message when the batch ends the run


class ConversationNotFound(LookupError):
    pass


class Store:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- runs ------------------------------------------------------------------------------

    def create_run(self, new: NewRun) -> tuple[RunRow, bool]:
        """Create conversation (if new), question, answer placeholder and run in one commit.

        Returns ``(run, created)``; the same ``client_request_id`` returns the existing run (the
        caller looks it up first; the unique constraint settles a race between two requests).
        """
        now = utcnow()
        try:
            with Session(self.engine) as session:
                conversation = self._conversation_for(session, new, now)
                position = self._next_position(session, conversation.id)
                question = Message(id=uuid.uuid4().hex, conversation_id=conversation.id, position=position,
                                   role="user", content=new.content, created_at=now)
                answer = Message(id=uuid.uuid4().hex, conversation_id=conversation.id, position=position + 1,
                                 role="assistant", created_at=now)
                run = Run(id=new_run_id(), conversation_id=conversation.id, message_id=answer.id,
                          client_request_id=new.client_request_id, provider=new.provider, model=new.model,
                          max_tokens=new.max_tokens, state=RunState.QUEUED, created_at=now, updated_at=now)
                answer.run_id = run.id
                conversation.updated_at = now
                session.add_all([conversation, question, answer, run])
                session.commit()
                return RunRow.of(run), True
        except sqlalchemy.exc.IntegrityError:
            # A concurrent request with the same client_request_id won the race.
            existing = self.run_for_request(new.client_request_id)
            if existing is None:
                raise
            return existing, False

    def create_retry(self, original: RunRow, client_request_id: str) -> tuple[RunRow, bool]:
        """A new answer to the question ``original`` answered, at the end of the conversation."""
        existing = self.run_for_request(client_request_id)
        if existing is not None:
            return existing, False
        now = utcnow()
        with Session(self.engine) as session:
            position = self._next_position(session, original.conversation_id)
            answer = Message(id=uuid.uuid4().hex, conversation_id=original.conversation_id, position=position,
                             role="assistant", created_at=now)
            run = Run(id=new_run_id(), conversation_id=original.conversation_id, message_id=answer.id,
                      context_message_id=original.context_message_id, client_request_id=client_request_id,
                      provider=original.provider, model=original.model, max_tokens=original.max_tokens,
                      state=RunState.QUEUED, created_at=now, updated_at=now)
            answer.run_id = run.id
            session.add_all([answer, run])
            session.commit()
            return RunRow.of(run), True

    @staticmethod
    def _conversation_for(session: Session, new: NewRun, now) -> Conversation:
        if new.conversation_id is None:
            title = " ".join(new.content.split())[:TITLE_CHARS] or "New chat"
            return Conversation(id=uuid.uuid4().hex, title=title, created_at=now, updated_at=now)
        conversation = session.get(Conversation, new.conversation_id)
        if conversation is None:
            raise ConversationNotFound(new.conversation_id)
        return conversation

    @staticmethod
    def _next_position(session: Session, conversation_id: str) -> int:
        query = select(sqlalchemy.func.max(Message.position)).where(Message.conversation_id == conversation_id)
        last = session.execute(query).scalar()
        return 0 if last is None else last + 1

    def rename_conversation(self, conversation_id: str, title: str) -> bool:
        with self.engine.begin() as connection:
            result = connection.execute(
                update(Conversation).where(Conversation.id == conversation_id).values(title=title)
            )
            return result.rowcount == 1

    def conversation_run_ids(self, conversation_id: str) -> list[str]:
        with self.engine.connect() as connection:
            return list(connection.execute(select(Run.id).where(Run.conversation_id == conversation_id)).scalars())

    def delete_conversation(self, conversation_id: str) -> bool:
        """Delete a conversation with its messages, runs and their logs, in one transaction."""
        runs = select(Run.id).where(Run.conversation_id == conversation_id)
        with self.engine.begin() as connection:
            connection.execute(delete(RunEvent).where(RunEvent.run_id.in_(runs)))
            connection.execute(delete(Run).where(Run.conversation_id == conversation_id))
            connection.execute(delete(Message).where(Message.conversation_id == conversation_id))
            result = connection.execute(delete(Conversation).where(Conversation.id == conversation_id))
            return result.rowcount == 1

    def run_for_request(self, client_request_id: str) -> RunRow | None:
        with Session(self.engine) as session:
            run = session.execute(select(Run).where(Run.client_request_id == client_request_id)).scalars().first()
            return RunRow.of(run) if run else None

    def get_run(self, run_id: str) -> RunRow | None:
        with Session(self.engine) as session:
            run = session.get(Run, run_id)
            return RunRow.of(run) if run else None

    def unfinished_runs(self) -> list[RunRow]:
        terminal = [str(state) for state in TERMINAL_STATES]
        with Session(self.engine) as session:
            runs = session.execute(select(Run).where(Run.state.not_in(terminal))).scalars().all()
            return [RunRow.of(run) for run in runs]

    # -- the event log ---------------------------------------------------------------------

    def events_after(self, run_id: str, seq: int) -> list[LogEvent]:
        query = (
            select(RunEvent.seq, RunEvent.kind, RunEvent.data)
            .where(RunEvent.run_id == run_id, RunEvent.seq > seq)
            .order_by(RunEvent.seq)
        )
        with self.engine.connect() as connection:
            return [LogEvent(seq, kind, data) for seq, kind, data in connection.execute(query)]

    def run_text(self, run_id: str) -> str:
        """The answer so far: every delta of the log, in order."""
        query = (
            select(RunEvent.data)
            .where(RunEvent.run_id == run_id, RunEvent.kind == "delta")
            .order_by(RunEvent.seq)
        )
        with self.engine.connect() as connection:
            return "".join(json.loads(data)["text"] for (data,) in connection.execute(query))

    def write_batch(self, events: list[tuple[str, LogEvent]], updates: dict[str, RunUpdate]) -> None:
        """Append events and update their runs in one transaction (the log's single commit)."""
        now = utcnow()
        with self.engine.begin() as connection:
            if events:
                connection.execute(
                    insert(RunEvent),
                    [{"run_id": run_id, "seq": e.seq, "kind": e.kind, "data": e.data} for run_id, e in events],
                )
            for run_id, change in updates.items():
                values = {"last_seq": change.last_seq, "updated_at": now}
                for column in ("state", "finish_reason", "error", "detail", "attempts"):
                    if getattr(change, column) is not None:
                        values[column] = getattr(change, column)
                connection.execute(update(Run).where(Run.id == run_id).values(**values))
                if change.final_text is not None:
                    message_id = select(Run.message_id).where(Run.id == run_id).scalar_subquery()
                    connection.execute(
                        update(Message).where(Message.id == message_id).values(content=change.final_text)
                    )
