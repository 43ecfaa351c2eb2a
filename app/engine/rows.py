"""The plain records the store takes and hands out: detached from any session, so they
cross threads (``asyncio.to_thread``) and workers' code freely. ``RunRow`` is a run as read;
``NewRun`` and ``RunUpdate`` are what creating a run and a batch of its events write.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime

from app.engine.models import LOCAL_USER_ID, Run
from app.engine.states import RunState


@dataclasses.dataclass(frozen=True)
class RunParams:
    """What a run asks the provider with; fixed when the run starts."""

    provider: str
    model: str
    max_tokens: int | None = None
    temperature: float | None = None
    system_prompt: str = ""


@dataclasses.dataclass(frozen=True)
class ConversationSettings:
    """A conversation's own settings; None means the configured default."""

    model: str | None = None  # "provider:model"
    system_prompt: str | None = None
    max_tokens: int | None = None
    temperature: float | None = None


@dataclasses.dataclass(frozen=True)
class NewRun:
    user_id: str
    content: str
    client_request_id: str  # as the client sent it
    conversation_id: str | None
    params: RunParams
    # For a new conversation: the settings it starts with.
    settings: ConversationSettings = ConversationSettings()
    # Edit and resend: the question this one replaces, as a new branch beside it.
    edit_of: str | None = None


@dataclasses.dataclass(frozen=True)
class RunRow:
    """A detached snapshot of a run row."""

    id: str
    conversation_id: str
    message_id: str
    provider: str
    model: str
    max_tokens: int | None
    temperature: float | None
    system_prompt: str
    state: RunState
    last_seq: int
    finish_reason: str | None
    error: str | None
    detail: str
    attempts: list[dict]
    created_at: datetime | None = None
    updated_at: datetime | None = None
    user_id: str = LOCAL_USER_ID
    owner: str | None = None  # the worker answering it (leases.py)
    lease_until: float | None = None

    @property
    def params(self) -> RunParams:
        return RunParams(self.provider, self.model, self.max_tokens, self.temperature, self.system_prompt)

    @classmethod
    def of(cls, run: Run) -> RunRow:
        return cls(
            id=run.id,
            conversation_id=run.conversation_id,
            message_id=run.message_id,
            provider=run.provider,
            model=run.model,
            max_tokens=run.max_tokens,
            temperature=run.temperature,
            system_prompt=run.system_prompt or "",
            state=RunState(run.state),
            last_seq=run.last_seq,
            finish_reason=run.finish_reason,
            error=run.error,
            detail=run.detail or "",
            attempts=list(run.attempts or []),
            created_at=run.created_at,
            updated_at=run.updated_at,
            user_id=run.user_id,
            owner=run.owner,
            lease_until=run.lease_until,
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
    tokens: int | None = None  # the answer's token count, from its end event
    release: bool | None = None  # True: the answer ended, nobody answers the run any more

    @property
    def only_moves_on(self) -> bool:
        """Only ``last_seq`` changes (the common case: new deltas)."""
        return all(getattr(self, field.name) is None for field in dataclasses.fields(self) if field.name != "last_seq")
