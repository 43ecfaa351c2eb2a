"""Run states and the transitions between them (design.md, "Run states").

Pure: the runner asks ``check_transition`` before every state change it logs, so an
impossible sequence (``complete`` then ``streaming``) is a bug caught at once, not a page
that shows nonsense.
"""

from __future__ import annotations

import enum


class RunState(enum.StrEnum):
    QUEUED = "queued"
    CONNECTING = "connecting"
    STREAMING = "streaming"
    RETRYING = "retrying"
    CONTINUING = "continuing"
    COMPLETE = "complete"
    TRUNCATED = "truncated"
    STOPPED = "stopped"
    FAILED = "failed"
    INTERRUPTED = "interrupted"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATES


TERMINAL_STATES = frozenset(
    {RunState.COMPLETE, RunState.TRUNCATED, RunState.STOPPED, RunState.FAILED, RunState.INTERRUPTED}
)
# Terminal states whose partial answer can be continued (design.md's action column).
CONTINUABLE_STATES = frozenset({RunState.TRUNCATED, RunState.STOPPED, RunState.INTERRUPTED})

_ENDINGS = TERMINAL_STATES
_ACTIVE = {RunState.QUEUED, RunState.CONNECTING, RunState.STREAMING, RunState.RETRYING, RunState.CONTINUING}

ALLOWED_TRANSITIONS: dict[RunState, frozenset[RunState]] = {
    RunState.QUEUED: frozenset({RunState.CONNECTING, RunState.CONTINUING} | _ENDINGS),
    RunState.CONNECTING: frozenset({RunState.STREAMING, RunState.RETRYING} | _ENDINGS),
    RunState.STREAMING: frozenset({RunState.RETRYING, RunState.CONTINUING} | _ENDINGS),
    RunState.RETRYING: frozenset({RunState.QUEUED, RunState.CONNECTING, RunState.CONTINUING} | _ENDINGS),
    RunState.CONTINUING: frozenset({RunState.STREAMING, RunState.RETRYING} | _ENDINGS),
    RunState.COMPLETE: frozenset(),
    RunState.FAILED: frozenset(),
    **{state: frozenset({RunState.QUEUED, RunState.CONTINUING}) for state in CONTINUABLE_STATES},
}
assert set(ALLOWED_TRANSITIONS) == set(RunState), "every state needs a row"
assert _ACTIVE | TERMINAL_STATES == set(RunState)


class InvalidTransition(RuntimeError):
    pass


def check_transition(current: RunState, target: RunState) -> RunState:
    """Return ``target`` when ``current → target`` is allowed, else raise.

    Staying in a non-terminal state is allowed (a new attempt logs ``retrying`` again).
    """
    if current == target and not current.is_terminal:
        return target
    if target not in ALLOWED_TRANSITIONS[current]:
        raise InvalidTransition(f"a run cannot go from {current} to {target}")
    return target
