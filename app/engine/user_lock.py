"""One user's new answers start one at a time, across every worker of the instance.

A new answer is checked against the user's limits (limits.py counts in the database) and then
created; two requests at once must not both pass a limit that only one of them fits. In one
process an asyncio lock per user orders them. Several workers share a Postgres database: there
the step also holds a Postgres advisory lock on the user, from before the check until the new
run is committed, so a request on another worker waits for it. (SQLite serves one process
only, so its asyncio lock is the whole lock.)

The advisory lock lives in a transaction of its own, held only while the step runs in one
worker thread: the connections held at once stay bounded by the threads (each step uses at
most one more for its queries), so lock holders can never take the whole pool.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import text
from sqlalchemy.engine import Engine

USER_LOCK_SPACE = 0x75736572  # "user": the first key of the two-key advisory locks taken here

T = TypeVar("T")


class UserLocks:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._shared = engine.dialect.name == "postgresql"
        self._local: dict[str, asyncio.Lock] = {}

    async def one_at_a_time(self, user_id: str, step: Callable[[], T]) -> T:
        """Run the blocking ``step`` (a limit check and what it allows) in a worker thread,
        while no other step of this user runs on any worker."""
        async with self._local.setdefault(user_id, asyncio.Lock()):
            return await asyncio.to_thread(self._across_workers, user_id, step)

    def _across_workers(self, user_id: str, step: Callable[[], T]) -> T:
        if not self._shared:
            return step()
        with self._engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_xact_lock(:space, hashtext(:user_id))"),
                               {"space": USER_LOCK_SPACE, "user_id": user_id})
            try:
                return step()
            finally:
                connection.rollback()  # ends the lock's transaction, and the lock with it
