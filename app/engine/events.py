"""The one canonical event: what the runner appends, the log stores and the browser parses.

A ``LogEvent`` carries the exact JSON text of the SSE ``data:`` field. It is built once,
when the log assigns the sequence number, and then stored, replayed and sent byte for byte
— there is no second format to drift (design.md, "SSE wire format").
"""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime

from app.engine.states import RunState


@dataclasses.dataclass(frozen=True, slots=True)
class LogEvent:
    seq: int
    kind: str  # "delta" | "status" | "end"
    data: str  # the JSON sent as the SSE data field, byte for byte

    @property
    def payload(self) -> dict:
        return json.loads(self.data)


def _json(payload: dict) -> str:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


@dataclasses.dataclass(frozen=True, slots=True)
class Delta:
    """Answer text; consecutive deltas of a run waiting for the same commit are merged."""

    text: str

    def to_event(self, seq: int) -> LogEvent:
        return LogEvent(seq, "delta", _json({"seq": seq, "text": self.text}))


@dataclasses.dataclass(frozen=True, slots=True)
class Status:
    state: RunState
    attempt: int = 1
    max_attempts: int = 1
    retry_at: datetime | None = None
    detail: str = ""

    def to_event(self, seq: int) -> LogEvent:
        return LogEvent(
            seq,
            "status",
            _json(
                {
                    "seq": seq,
                    "state": str(self.state),
                    "attempt": self.attempt,
                    "max_attempts": self.max_attempts,
                    "retry_at": self.retry_at.isoformat() if self.retry_at else None,
                    "detail": self.detail,
                }
            ),
        )


@dataclasses.dataclass(frozen=True, slots=True)
class End:
    """The last event of a run (until a continuation appends more)."""

    state: RunState
    detail: str = ""
    finish_reason: str | None = None
    error: str | None = None
    tokens: int | None = None  # the answer's length in tokens, as counted (tokens.estimate_tokens)

    def __post_init__(self) -> None:
        if not self.state.is_terminal:
            raise ValueError(f"an end event needs a terminal state, not {self.state}")

    def to_event(self, seq: int) -> LogEvent:
        payload = {"seq": seq, "state": str(self.state), "detail": self.detail}
        if self.tokens is not None:
            payload["tokens"] = self.tokens
        return LogEvent(seq, "end", _json(payload))


PendingEvent = Delta | Status | End
