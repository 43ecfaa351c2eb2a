"""Database access for runs, their event log and the conversations they belong to.

Conversations and runs are read and changed on behalf of a user: every lookup by id that a
caller could have chosen takes the ``user_id`` too, and another user's row is reported as
missing, exactly like an id that does not exist.

Plain synchronous functions over one SQLAlchemy engine; async callers run them with
``asyncio.to_thread`` so the event loop never waits on SQLite. The log writer is the only
code that appends events (``write_batch``); everything else reads or creates.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
import uuid
from datetime import datetime

import sqlalchemy
from sqlalchemy import case, delete, insert, select, update
from sqlalchemy.engine import Engine
from sqlmodel import Session

from app.engine.events import LogEvent
from app.engine.leases import Worker
from app.engine.models import Conversation, Message, Run, RunEvent, RunTrace, utcnow
from app.engine.rows import ConversationSettings, NewRun, RunParams, RunRow, RunUpdate
from app.engine.states import TERMINAL_STATES, RunState
from app.engine.titles import question_title


def new_run_id() -> str:
    """128 random bits, URL-safe: a run id cannot be guessed."""
    return secrets.token_urlsafe(16)


def request_key(user_id: str, client_request_id: str) -> str:
    """The stored form of a client's request id: unique per user, not across users."""
    return f"{user_id}/{client_request_id}"


class ConversationNotFound(LookupError):
    pass


class MessageNotFound(LookupError):
    """No such message in that conversation, or not one that can be edited (an answer)."""


class Store:
    def __init__(self, engine: Engine, worker: Worker | None = None) -> None:
        """``worker``: the worker that answers the runs this store creates and whose events
        it writes (leases.py); None: the instance's only worker."""
        self.engine = engine
        self.worker = worker or Worker()

    # -- runs ------------------------------------------------------------------------------

    def create_run(self, new: NewRun) -> tuple[RunRow, bool]:
        """Create conversation (if new), question, answer placeholder and run in one commit.

        The question follows the branch on screen, or with ``edit_of`` becomes a sibling of
        the question it replaces; either way the new answer becomes the branch on screen.
        Returns ``(run, created)``; the same ``client_request_id`` returns the existing run
        (the caller looks it up first; the unique constraint settles a race between two).
        """
        now = utcnow()
        try:
            with Session(self.engine) as session:
                conversation = self._conversation_for(session, new, now)
                if new.edit_of is not None:
                    edited = session.get(Message, new.edit_of)
                    if edited is None or edited.conversation_id != conversation.id or edited.role != "user":
                        raise MessageNotFound(new.edit_of)
                    parent_id = edited.parent_id
                else:
                    parent_id = conversation.current_leaf_id
                position = self._next_position(session, conversation.id)
                question = Message(id=uuid.uuid4().hex, conversation_id=conversation.id, parent_id=parent_id,
                                   position=position, role="user", content=new.content, created_at=now)
                run = self._new_answer(session, conversation, question.id, position + 1,
                                       request_key(new.user_id, new.client_request_id), new.params, now,
                                       self.worker)
                session.add(question)
                session.commit()
                return RunRow.of(run), True
        except sqlalchemy.exc.IntegrityError:
            # A concurrent request with the same client_request_id won the race.
            existing = self.run_for_request(new.user_id, new.client_request_id)
            if existing is None:
                raise
            return existing, False

    def create_retry(self, original: RunRow, client_request_id: str) -> tuple[RunRow, bool]:
        """A new answer to the question ``original`` answered: a sibling of its answer, shown."""
        existing = self.run_for_request(original.user_id, client_request_id)
        if existing is not None:
            return existing, False
        now = utcnow()
        with Session(self.engine) as session:
            conversation = session.get(Conversation, original.conversation_id, with_for_update=True)
            question_id = session.get(Message, original.message_id).parent_id
            position = self._next_position(session, conversation.id)
            run = self._new_answer(session, conversation, question_id, position,
                                   request_key(original.user_id, client_request_id), original.params, now,
                                   self.worker)
            session.commit()
            return RunRow.of(run), True

    @staticmethod
    def _new_answer(session: Session, conversation: Conversation, question_id: str, position: int,
                    client_request_id: str, params: RunParams, now, worker: Worker) -> Run:
        """An answer placeholder under ``question_id``, its run (answered by ``worker``), and
        the branch switched to it."""
        answer = Message(id=uuid.uuid4().hex, conversation_id=conversation.id, parent_id=question_id,
                         position=position, role="assistant", created_at=now)
        run = Run(id=new_run_id(), conversation_id=conversation.id, user_id=conversation.user_id, message_id=answer.id,
                  client_request_id=client_request_id, provider=params.provider, model=params.model,
                  max_tokens=params.max_tokens, temperature=params.temperature, system_prompt=params.system_prompt,
                  state=RunState.QUEUED, created_at=now, updated_at=now,
                  owner=worker.id, lease_until=worker.lease_end())
        answer.run_id = run.id
        conversation.current_leaf_id = answer.id
        conversation.updated_at = now
        session.add_all([conversation, answer, run])
        return run

    @staticmethod
    def _conversation_for(session: Session, new: NewRun, now) -> Conversation:
        if new.conversation_id is None:
            return Conversation(id=uuid.uuid4().hex, user_id=new.user_id, title=question_title(new.content),
                                created_at=now, updated_at=now, **dataclasses.asdict(new.settings))
        # Locked (Postgres; SQLite has one writer anyway) until the commit, so that two new
        # messages at once cannot both take the same next position.
        conversation = session.get(Conversation, new.conversation_id, with_for_update=True)
        if conversation is None or conversation.user_id != new.user_id:
            raise ConversationNotFound(new.conversation_id)
        return conversation

    @staticmethod
    def _next_position(session: Session, conversation_id: str) -> int:
        query = select(sqlalchemy.func.max(Message.position)).where(Message.conversation_id == conversation_id)
        last = session.execute(query).scalar()
        return 0 if last is None else last + 1

    # -- conversations -----------------------------------------------------------------------

    def conversation_settings(self, conversation_id: str, user_id: str) -> ConversationSettings | None:
        with Session(self.engine) as session:
            conversation = session.get(Conversation, conversation_id)
            if conversation is None or conversation.user_id != user_id:
                return None
            return ConversationSettings(conversation.model, conversation.system_prompt, conversation.max_tokens,
                                        conversation.temperature)

    def update_conversation(self, conversation_id: str, user_id: str, **values) -> bool:
        """Set columns of a conversation: ``title`` and the fields of ConversationSettings."""
        with self.engine.begin() as connection:
            result = connection.execute(update(Conversation).where(
                Conversation.id == conversation_id, Conversation.user_id == user_id).values(**values))
            return result.rowcount == 1

    def first_question(self, conversation_id: str) -> tuple[str, str] | None:
        """``(title, first question)`` of a conversation, or None when it has no question."""
        query = (select(Conversation.title, Message.content)
                 .join(Message, Message.conversation_id == Conversation.id)
                 .where(Conversation.id == conversation_id, Message.role == "user")
                 .order_by(Message.position).limit(1))
        with self.engine.connect() as connection:
            row = connection.execute(query).first()
        return tuple(row) if row else None

    def tokens_since(self, since: datetime, user_id: str) -> int:
        """A user's tokens in answers that ended (or ended again, after a Continue) since ``since``."""
        query = select(sqlalchemy.func.coalesce(sqlalchemy.func.sum(Run.tokens), 0)).where(
            Run.updated_at >= since, Run.user_id == user_id)
        with self.engine.connect() as connection:
            return int(connection.execute(query).scalar())

    def starts_since(self, user_id: str, since: datetime, limit: int) -> list[datetime]:
        """When the user's runs since ``since`` were created, oldest first, at most ``limit``."""
        query = (select(Run.created_at).where(Run.user_id == user_id, Run.created_at >= since)
                 .order_by(Run.created_at.desc()).limit(limit))
        with self.engine.connect() as connection:
            return sorted(connection.execute(query).scalars())

    def unfinished_count(self, user_id: str) -> int:
        """The user's runs not yet ended (queued, streaming, waiting to retry …), and the ended
        ones a worker holds to continue (Continue's claim comes a moment before the new state)."""
        ended = Run.state.in_([str(state) for state in TERMINAL_STATES])
        query = select(sqlalchemy.func.count()).select_from(Run).where(
            Run.user_id == user_id, sqlalchemy.or_(~ended, Run.lease_until > self.worker.clock()))
        with self.engine.connect() as connection:
            return int(connection.execute(query).scalar())

    def replace_title(self, conversation_id: str, expected: str, title: str) -> bool:
        """Set the title only while it is still ``expected`` (a rename in between wins)."""
        with self.engine.begin() as connection:
            result = connection.execute(
                update(Conversation).where(Conversation.id == conversation_id, Conversation.title == expected)
                .values(title=title)
            )
            return result.rowcount == 1

    def show_branch(self, conversation_id: str, user_id: str, message_id: str) -> bool:
        """Show the branch through ``message_id``: down to its newest leaf. False if no such message."""
        with Session(self.engine) as session:
            rows = session.execute(
                select(Message.id, Message.parent_id)
                .join(Conversation, Conversation.id == Message.conversation_id)
                .where(Message.conversation_id == conversation_id, Conversation.user_id == user_id)
                .order_by(Message.position)
            ).all()
            if message_id not in {id for id, _ in rows}:
                return False
            newest_child = {parent_id: id for id, parent_id in rows}  # ordered by position: the last wins
            leaf = message_id
            while leaf in newest_child:
                leaf = newest_child[leaf]
            session.execute(update(Conversation).where(Conversation.id == conversation_id)
                            .values(current_leaf_id=leaf))
            session.commit()
            return True

    def conversation_run_ids(self, conversation_id: str, user_id: str) -> list[str]:
        query = select(Run.id).where(Run.conversation_id == conversation_id, Run.user_id == user_id)
        with self.engine.connect() as connection:
            return list(connection.execute(query).scalars())

    def delete_conversation(self, conversation_id: str, user_id: str) -> bool:
        """Delete a conversation with its messages, runs and their logs, in one transaction."""
        runs = select(Run.id).where(Run.conversation_id == conversation_id)
        owned = select(Conversation.id).where(Conversation.id == conversation_id, Conversation.user_id == user_id)
        with self.engine.begin() as connection:
            if connection.execute(owned).first() is None:
                return False
            connection.execute(delete(RunTrace).where(RunTrace.run_id.in_(runs)))
            connection.execute(delete(RunEvent).where(RunEvent.run_id.in_(runs)))
            connection.execute(delete(Run).where(Run.conversation_id == conversation_id))
            connection.execute(delete(Message).where(Message.conversation_id == conversation_id))
            result = connection.execute(delete(Conversation).where(Conversation.id == conversation_id))
            return result.rowcount == 1

    def run_for_request(self, user_id: str, client_request_id: str) -> RunRow | None:
        key = request_key(user_id, client_request_id)
        with Session(self.engine) as session:
            run = session.execute(select(Run).where(Run.client_request_id == key)).scalars().first()
            return RunRow.of(run) if run else None

    def get_run(self, run_id: str) -> RunRow | None:
        with Session(self.engine) as session:
            run = session.get(Run, run_id)
            return RunRow.of(run) if run else None

    # -- traces ----------------------------------------------------------------------------

    def add_traces(self, run_id: str, source: str, entries: list[tuple[datetime, str, dict]],
                   limit: int | None = None) -> int:
        """Store trace entries ``(at, kind, data)``; with ``limit``, only as many as keep the
        run's traces from this source within it. Returns how many were stored."""
        with self.engine.begin() as connection:
            if limit is not None:
                held = connection.execute(
                    select(sqlalchemy.func.count()).select_from(RunTrace)
                    .where(RunTrace.run_id == run_id, RunTrace.source == source)
                ).scalar()
                entries = entries[: max(0, limit - held)]
            if entries:
                connection.execute(
                    insert(RunTrace),
                    [{"run_id": run_id, "at": at, "source": source, "kind": kind, "data": data}
                     for at, kind, data in entries],
                )
            return len(entries)

    def traces(self, run_id: str) -> list[tuple[datetime, str, str, dict]]:
        """``(at, source, kind, data)`` in the order they happened."""
        query = (select(RunTrace.at, RunTrace.source, RunTrace.kind, RunTrace.data)
                 .where(RunTrace.run_id == run_id).order_by(RunTrace.id))
        with self.engine.connect() as connection:
            return [tuple(row) for row in connection.execute(query)]

    # -- the event log ---------------------------------------------------------------------

    def events_after(self, run_id: str, seq: int, limit: int | None = None) -> list[LogEvent]:
        """The run's events with a seq above ``seq``, in order; at most ``limit`` of them."""
        query = (
            select(RunEvent.seq, RunEvent.kind, RunEvent.data)
            .where(RunEvent.run_id == run_id, RunEvent.seq > seq)
            .order_by(RunEvent.seq)
            .limit(limit)
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

    def write_batch(self, events: list[tuple[str, LogEvent]], updates: dict[str, RunUpdate]) -> set[str]:
        """Append events and update their runs in one transaction (the log's single commit).

        Only runs this store's worker still owns are written: the others were taken over by
        another worker (leases.py), and their ids are returned. The owned rows stay locked
        (Postgres) until the commit, so a takeover cannot slip in between.
        """
        now = utcnow()
        with self.engine.begin() as connection:
            owned = set(connection.execute(
                select(Run.id).where(Run.id.in_(list(updates)), Run.owner == self.worker.id).with_for_update()
            ).scalars())
            lost = updates.keys() - owned
            if lost:
                events = [(run_id, e) for run_id, e in events if run_id not in lost]
                updates = {run_id: change for run_id, change in updates.items() if run_id not in lost}
            if events:
                connection.execute(
                    insert(RunEvent),
                    [{"run_id": run_id, "seq": e.seq, "kind": e.kind, "data": e.data} for run_id, e in events],
                )
            # Most runs in a batch only moved on (new deltas): one statement for all of them. The
            # commit runs in a worker thread and SQLite releases the GIL at every statement, so
            # a statement per run made a 200-run commit wait ~200 times for a busy event loop.
            moved = {run_id: change.last_seq for run_id, change in updates.items() if change.only_moves_on}
            if moved:
                connection.execute(
                    update(Run).where(Run.id.in_(moved))
                    .values(last_seq=case(moved, value=Run.id), updated_at=now)
                )
            for run_id, change in updates.items():
                if change.only_moves_on:
                    continue
                values = {"last_seq": change.last_seq, "updated_at": now}
                for column in ("state", "finish_reason", "error", "detail", "attempts", "tokens"):
                    if getattr(change, column) is not None:
                        values[column] = getattr(change, column)
                if change.release:
                    values["lease_until"] = None
                connection.execute(update(Run).where(Run.id == run_id).values(**values))
                if change.final_text is not None:
                    message_id = select(Run.message_id).where(Run.id == run_id).scalar_subquery()
                    connection.execute(
                        update(Message).where(Message.id == message_id).values(content=change.final_text)
                    )
        return set(lost)
