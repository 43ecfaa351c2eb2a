"""A user's limit check and answer start are one step (user_lock.py): on Postgres under an
advisory lock as well, for several workers. The lock must never cost other users their start:
more users starting at once than the database pool has connections all start."""

from __future__ import annotations

import asyncio
import uuid

from app.engine.accounts import Actor
from app.engine.db import POSTGRES_MAX_OVERFLOW, POSTGRES_POOL_SIZE
from app.engine.run_input import RunRequest

USERS = 3 * (POSTGRES_POOL_SIZE + POSTGRES_MAX_OVERFLOW)
# Far above what the starts take; below the pool's 30 s wait, which lock holders that took
# every connection would end in.
DEADLINE_S = 20.0


async def test_more_users_than_pooled_connections_start_at_once(service):
    users = [Actor(f"user-{n}", f"user{n}") for n in range(USERS)]
    started = await asyncio.wait_for(asyncio.gather(*(
        service.start_run(user, RunRequest(content="Hello", client_request_id=uuid.uuid4().hex)) for user in users
    )), DEADLINE_S)
    assert [created for _, created in started] == [True] * USERS
    assert len({run.id for run, _ in started}) == USERS
