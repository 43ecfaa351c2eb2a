"""Which worker answers which run: a lease in the run row.

Several workers (processes) may share one database. A run being answered has an ``owner``
(the worker's id) and ``lease_until`` (Unix time): its owner renews the lease while it
answers (``Runner.keep_leases``), and an answer's end gives it up (``lease_until`` = None)
in the same commit as the end. When a worker dies, its leases run out and another worker
takes its runs over: it marks them ``interrupted`` and continues them by policy, exactly as
after a restart.

Taking a run is a compare-and-set in one ``UPDATE``: of two workers that try at once, one
wins. The loser of a takeover it did not notice (a worker that stalled past its lease) is
fenced off: the log writer only commits events of runs the worker still owns
(``Store.write_batch``), and the next renewal tells it which runs it lost.

The one worker of an instance without ``REDIS_URL`` is always ``solo``: after a restart its
own unfinished runs are its own again, so it takes them over at once instead of waiting for
their leases to run out.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import socket
import time
from collections.abc import Callable, Iterable

from sqlalchemy import and_, or_, select, update
from sqlalchemy.engine import Engine
from sqlmodel import Session

from app.engine.models import Run
from app.engine.rows import RunRow
from app.engine.states import CONTINUABLE_STATES, TERMINAL_STATES

SOLO = "solo"
GIVEN_BACK = 0.0  # a lease given back at shutdown: any worker may take the run at once

_TERMINAL = [str(state) for state in TERMINAL_STATES]
_CONTINUABLE = [str(state) for state in CONTINUABLE_STATES]


def worker_id(shared: bool) -> str:
    """``solo`` for an instance's only worker; with several, unique to this process."""
    if not shared:
        return SOLO
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def held(run: RunRow, now: float | None = None) -> bool:
    """True while some worker's lease on ``run`` holds."""
    return run.lease_until is not None and run.lease_until > (time.time() if now is None else now)


@dataclasses.dataclass(frozen=True)
class Worker:
    id: str = SOLO
    lease_s: float = 5.0
    clock: Callable[[], float] = time.time

    def lease_end(self) -> float:
        return self.clock() + self.lease_s


class Leases:
    def __init__(self, engine: Engine, worker: Worker) -> None:
        self._engine = engine
        self.worker = worker

    def renew(self, run_ids: Iterable[str]) -> set[str]:
        """Extend this worker's leases on ``run_ids``; returns those another worker has taken."""
        ids = list(run_ids)
        if not ids:
            return set()
        me = self.worker.id
        with self._engine.begin() as connection:
            connection.execute(
                update(Run).where(Run.id.in_(ids), Run.owner == me, Run.lease_until.is_not(None))
                .values(lease_until=self.worker.lease_end())
            )
            return set(connection.execute(select(Run.id).where(Run.id.in_(ids), Run.owner != me)).scalars())

    def orphans(self, running_here: Iterable[str], restart: bool = False) -> list[RunRow]:
        """Unfinished runs nobody answers: their lease ran out, or (``restart``: this worker
        is starting) they are this worker's own from before."""
        here = list(running_here)
        with Session(self._engine) as session:
            runs = session.execute(
                select(Run).where(Run.state.not_in(_TERMINAL), self._unanswered(restart), Run.id.not_in(here))
            ).scalars().all()
            return [RunRow.of(run) for run in runs]

    def take_orphan(self, run_id: str, restart: bool = False) -> bool:
        """Claim an unfinished run nobody answers (see ``orphans``); False if another worker
        was faster or its owner renewed in time."""
        return self._take(run_id, Run.state.not_in(_TERMINAL), self._unanswered(restart))

    def _unanswered(self, restart: bool):
        lapsed = or_(Run.lease_until.is_(None), Run.lease_until < self.worker.clock())
        return or_(lapsed, Run.owner == self.worker.id) if restart else lapsed

    def take_ended(self, run_id: str) -> bool:
        """Claim a stopped, truncated or interrupted run to continue it; False if it is not
        continuable or another worker claimed it first."""
        return self._take(run_id, Run.state.in_(_CONTINUABLE),
                          or_(Run.lease_until.is_(None), Run.lease_until < self.worker.clock()))

    def _take(self, run_id: str, *conditions) -> bool:
        with self._engine.begin() as connection:
            taken = connection.execute(
                update(Run).where(Run.id == run_id, and_(*conditions))
                .values(owner=self.worker.id, lease_until=self.worker.lease_end())
            )
            return taken.rowcount == 1

    def give_back(self, run_ids: Iterable[str]) -> None:
        """Shutting down: another worker (or this one, restarted) may take these at once."""
        ids = list(run_ids)
        if not ids:
            return
        with self._engine.begin() as connection:
            connection.execute(
                update(Run).where(Run.id.in_(ids), Run.owner == self.worker.id).values(lease_until=GIVEN_BACK)
            )
