"""Login throttling: after repeated failed sign-ins, refuse further tries for a while.

Failures are counted per key — the login name and the caller's address are both keys, so
neither guessing one name's password from many addresses nor many names from one address
gets far. After ``max_failures`` failures a key is locked for ``lockout_s``, doubled for
every further failure (capped at ``MAX_LOCKOUT_S``); a success forgets the key.

The rule (``after_failure``) is pure; the counts live in the database (``login_failure``,
keys stored as their SHA-256), so every worker of an instance counts the same failures — a
guesser whose tries nginx spreads over three workers gets no more of them — and a restart
forgets nothing. A key without a failure for a day starts again from zero and is deleted.
Blocking: call in a thread.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import time
from collections.abc import Callable

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from app.engine.models import LoginFailure

MAX_LOCKOUT_S = 3600.0
FORGET_AFTER_S = 24 * 3600.0  # a key with no failure for this long starts again from zero


@dataclasses.dataclass(frozen=True)
class Failures:
    count: int = 0
    last_at: float = 0.0
    locked_until: float = 0.0


def after_failure(before: Failures | None, now: float, max_failures: int, lockout_s: float) -> Failures:
    """A key's failures once one more happened at ``now``."""
    if before is None or now - before.last_at > FORGET_AFTER_S:
        before = Failures()
    count = before.count + 1
    beyond = count - max_failures
    locked_until = now + min(MAX_LOCKOUT_S, lockout_s * 2**beyond) if beyond >= 0 else before.locked_until
    return Failures(count, now, locked_until)


def _hashed(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class LoginThrottle:
    def __init__(self, engine: Engine, max_failures: int, lockout_s: float,
                 clock: Callable[[], float] = time.time) -> None:
        self._engine = engine
        self.max_failures = max_failures
        self.lockout_s = lockout_s
        self._clock = clock

    def retry_after_s(self, keys: list[str]) -> int:
        """Seconds until these keys may try again (0: now)."""
        now = self._clock()
        with self._engine.connect() as connection:
            until = connection.execute(
                select(LoginFailure.locked_until).where(LoginFailure.key.in_([_hashed(key) for key in keys]))
            ).scalars()
            return max([0, *(math.ceil(moment - now) for moment in until)])

    def failed(self, keys: list[str]) -> None:
        try:
            self._count_failure(keys)
        except IntegrityError:  # another worker counted a new key's first failure at once
            self._count_failure(keys)

    def _count_failure(self, keys: list[str]) -> None:
        now = self._clock()
        hashed = sorted({_hashed(key) for key in keys})  # locked in one order by every worker
        with self._engine.begin() as connection:
            rows = {row.key: Failures(row.count, row.last_at, row.locked_until) for row in connection.execute(
                select(LoginFailure).where(LoginFailure.key.in_(hashed)).order_by(LoginFailure.key).with_for_update()
            )}
            for key in hashed:
                values = dataclasses.asdict(after_failure(rows.get(key), now, self.max_failures, self.lockout_s))
                if key in rows:
                    connection.execute(update(LoginFailure).where(LoginFailure.key == key).values(**values))
                else:
                    connection.execute(insert(LoginFailure).values(key=key, **values))
            connection.execute(delete(LoginFailure).where(LoginFailure.last_at < now - FORGET_AFTER_S))

    def succeeded(self, keys: list[str]) -> None:
        with self._engine.begin() as connection:
            connection.execute(delete(LoginFailure).where(LoginFailure.key.in_([_hashed(key) for key in keys])))
