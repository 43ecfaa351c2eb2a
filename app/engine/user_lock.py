"""One user's new answers start one at a time, across every worker of the instance.

A new answer is checked against the user's limits (limits.py counts in the database) and then
created; two requests at once must not both pass a limit that only one of them fits. In one
process an asyncio lock per user orders them. Several workers share a Postgres database: there
the lock is also a Postgres advisory lock on the user, taken on a connection of its own and
held until the new run is committed, so a request on another worker waits for it. (SQLite
serves one process only, so its asyncio lock is the whole lock.)
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

USER_LOCK_SPACE = 0x75736572  # "user": the first key of the two-key advisory locks taken here


class UserLocks:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._shared = engine.dialect.name == "postgresql"
        self._local: dict[str, asyncio.Lock] = {}

    @contextlib.asynccontextmanager
    async def hold(self, user_id: str) -> AsyncIterator[None]:
        async with self._local.setdefault(user_id, asyncio.Lock()):
            if not self._shared:
                yield
                return
            taking = asyncio.ensure_future(asyncio.to_thread(self._take, user_id))
            try:
                connection = await asyncio.shield(taking)
            except asyncio.CancelledError:
                # The request went away while waiting: give the lock back once it is taken.
                taking.add_done_callback(_give_back_when_taken)
                raise
            try:
                yield
            finally:
                await asyncio.to_thread(_give_back, connection)

    def _take(self, user_id: str) -> Connection:
        connection = self._engine.connect()
        try:
            connection.execute(text("SELECT pg_advisory_xact_lock(:space, hashtext(:user_id))"),
                               {"space": USER_LOCK_SPACE, "user_id": user_id})
        except BaseException:
            connection.close()
            raise
        return connection


def _give_back(connection: Connection) -> None:
    """End the lock's transaction (the lock goes with it) and return the connection."""
    with contextlib.closing(connection):
        connection.rollback()


def _give_back_when_taken(taking: asyncio.Future) -> None:
    if not taking.cancelled() and taking.exception() is None:
        asyncio.get_running_loop().run_in_executor(None, _give_back, taking.result())
