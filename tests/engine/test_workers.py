"""Several workers on one database and one Redis (issue: scale out): live events reach readers
on any worker, stop / continue / retry work on any worker, and a worker that dies or stalls
has its runs taken over — with the text exact, nothing lost and nothing written twice.

Each "worker" is a ``ChatService`` of its own (its own database engine, event log, runner and
Redis connections), as each process of a deployment has; the database and Redis are real.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from app.engine.accounts import LOCAL
from app.engine.errors import Overloaded
from app.engine.models import RunEvent
from app.engine.providers.base import StreamEnd, TextDelta
from app.engine.run_input import Conflict, RunRequest
from app.engine.runner import RunnerClock
from app.engine.service import ChatService
from tests.fakes.provider import Pause, ScriptedProvider

LEASE_S = 1.0
WAIT_S = 10.0
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def workers(settings, redis_server):
    """``make(provider, **settings)`` → a started worker sharing the test's database and Redis."""
    started = []

    async def make(provider: ScriptedProvider, clock: RunnerClock = RunnerClock(), **overrides) -> ChatService:
        config = dataclasses.replace(settings, redis_url=redis_server.url, run_lease_s=LEASE_S, **overrides)
        worker = ChatService(config, provider=provider, clock=clock)
        await worker.start()
        started.append(worker)
        return worker

    yield make
    for worker in started:
        await worker.close()


async def ask(worker: ChatService, content: str = "Hi") -> str:
    run, _ = await worker.start_run(LOCAL, RunRequest(content=content, client_request_id=content))
    return run.id


async def follow(worker: ChatService, run_id: str, after: int = 0) -> list[tuple[int, str, dict]]:
    got = []
    async for batch in worker.follow(run_id, after, tick_s=0.2):
        got.extend((e.seq, e.kind, json.loads(e.data)) for e in batch)
    return got


def text_of(events) -> str:
    return "".join(data["text"] for _, kind, data in events if kind == "delta")


async def state_becomes(worker: ChatService, run_id: str, state: str) -> dict:
    async with asyncio.timeout(WAIT_S):
        while (view := await worker.run_view(LOCAL, run_id))["state"] != state:
            await asyncio.sleep(0.02)
    return view


def stored_seqs(worker: ChatService, run_id: str) -> list[int]:
    with worker.store.engine.connect() as connection:
        return list(connection.execute(
            select(RunEvent.seq).where(RunEvent.run_id == run_id).order_by(RunEvent.seq)).scalars())


async def crash(worker: ChatService) -> None:
    """The worker's process dies: its tasks stop where they are; nothing is flushed, no
    lease is given back, no feed is closed."""
    tasks = [worker._keeper, worker._writer, *worker.runner._tasks.values()]
    worker._keeper = worker._writer = None
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    worker.runner._tasks.clear()
    worker.runner = None  # close() then only lets go of connections


async def test_a_reader_on_another_worker_gets_every_event_once_in_order(workers):
    answering = ScriptedProvider([TextDelta("one "), Pause(), TextDelta("two "), TextDelta("three"), StreamEnd("stop")])
    a = await workers(answering)
    b = await workers(ScriptedProvider())
    run_id = await ask(a)
    await answering.paused.wait()
    await a.log.durable()
    reading = asyncio.create_task(follow(b, run_id))  # replays "one " from the database, then tails Redis
    await asyncio.sleep(0.3)
    answering.release()

    got = await asyncio.wait_for(reading, WAIT_S)
    assert text_of(got) == "one two three"
    assert [seq for seq, _, _ in got] == list(range(1, len(got) + 1))
    assert got == await follow(a, run_id)  # byte for byte what the answering worker has
    assert (await b.run_view(LOCAL, run_id))["state"] == "complete"


async def test_a_resume_on_another_worker_starts_after_the_given_event(workers):
    answering = ScriptedProvider([TextDelta("first "), Pause(), TextDelta("second"), StreamEnd("stop")])
    a = await workers(answering)
    b = await workers(ScriptedProvider())
    run_id = await ask(a)
    await answering.paused.wait()
    await a.log.durable()
    seen = (await a.run_view(LOCAL, run_id))["last_seq"]
    reading = asyncio.create_task(follow(b, run_id, after=seen))
    answering.release()
    got = await asyncio.wait_for(reading, WAIT_S)
    assert got[0][0] == seen + 1 and text_of(got) == "second"


async def test_stop_on_another_worker_stops_the_run_where_it_is_answered(workers):
    answering = ScriptedProvider([TextDelta("kept"), Pause(), TextDelta(" never"), StreamEnd("stop")])
    a = await workers(answering)
    b = await workers(ScriptedProvider())
    run_id = await ask(a)
    await answering.paused.wait()
    await a.log.durable()

    await asyncio.wait_for(b.stop_run(LOCAL, run_id), WAIT_S)
    view = await b.run_view(LOCAL, run_id)
    assert (view["state"], view["text"]) == ("stopped", "kept")
    assert not a.runner.is_running(run_id)  # stopped on the worker that answered it


async def test_continue_on_another_worker_goes_on_in_the_same_log_and_only_once(workers):
    first = ScriptedProvider([TextDelta("part one"), Pause()])
    a = await workers(first)
    continuing = ScriptedProvider([TextDelta(" and two"), StreamEnd("stop")])
    b = await workers(continuing)
    c = await workers(ScriptedProvider([TextDelta(" SECOND CONTINUATION"), StreamEnd("stop")]))
    run_id = await ask(a)
    await first.paused.wait()
    await a.stop_run(LOCAL, run_id)
    await state_becomes(a, run_id, "stopped")

    results = await asyncio.gather(b.continue_run(LOCAL, run_id), c.continue_run(LOCAL, run_id),
                                   return_exceptions=True)
    assert sum(isinstance(r, Conflict) for r in results) == 1  # two Continues at once: one goes on
    view = await state_becomes(a, run_id, "complete")
    assert view["text"] in ("part one and two", "part one SECOND CONTINUATION")
    assert stored_seqs(a, run_id) == list(range(1, view["last_seq"] + 1))


async def test_retry_now_reaches_the_worker_that_waits(workers):
    async def long_sleep(seconds: float) -> None:
        await asyncio.sleep(3600)

    a = await workers(ScriptedProvider([Overloaded("p is overloaded (HTTP 503)", provider="p", status=503)],
                                       [TextDelta("now"), StreamEnd("stop")]),
                      clock=RunnerClock(sleep=long_sleep))
    b = await workers(ScriptedProvider())
    run_id = await ask(a)
    await state_becomes(b, run_id, "retrying")
    same, created = await b.retry_run(LOCAL, run_id)
    assert (same.id, created) == (run_id, False)
    view = await state_becomes(b, run_id, "complete")
    assert view["text"] == "now"


async def test_a_dead_workers_run_is_taken_over_and_finished_exactly(workers):
    dying = ScriptedProvider([TextDelta("saved "), Pause()])
    a = await workers(dying)
    taking_over = ScriptedProvider([TextDelta("saved and the rest."), StreamEnd("stop")])
    b = await workers(taking_over)
    run_id = await ask(a)
    await dying.paused.wait()
    await a.log.durable()
    reading = asyncio.create_task(follow(b, run_id))
    await crash(a)

    view = await state_becomes(b, run_id, "complete")
    assert view["text"] == "saved and the rest."  # the overlap at the seam is dropped
    assert taking_over.requests[0].prefix == "saved "
    assert [a["outcome"] for a in view["attempts"]].count("server_restart") == 1
    got = await asyncio.wait_for(reading, WAIT_S)
    ends = [data["state"] for _, kind, data in got if kind == "end"]
    assert ends == ["interrupted"] or ends == ["interrupted", "complete"]
    assert stored_seqs(b, run_id) == list(range(1, view["last_seq"] + 1))
    assert text_of(await follow(b, run_id)) == "saved and the rest."


async def test_a_stalled_worker_that_lost_its_run_writes_nothing_more_to_it(workers):
    stalling = ScriptedProvider([TextDelta("before "), Pause(), TextDelta("STALE TEXT"), StreamEnd("stop")])
    a = await workers(stalling)
    b = await workers(ScriptedProvider([TextDelta("after the takeover."), StreamEnd("stop")]))
    run_id = await ask(a)
    await stalling.paused.wait()
    await a.log.durable()
    a._keeper.cancel()  # a stops renewing (a long pause), while its writer still works

    view = await state_becomes(b, run_id, "complete")
    stalling.release()  # a wakes up and goes on writing
    async with asyncio.timeout(WAIT_S):
        while a.runner.is_running(run_id):
            await asyncio.sleep(0.02)
    await a.log.durable()
    final = await b.run_view(LOCAL, run_id)
    assert final["text"] == view["text"] == "before after the takeover."
    assert "STALE" not in text_of(await follow(b, run_id))
    assert stored_seqs(b, run_id) == list(range(1, final["last_seq"] + 1))


async def test_without_redis_a_reader_on_another_worker_still_gets_the_exact_text_from_the_database(settings):
    from tests.fakes.redis import RedisServer

    answering = ScriptedProvider([TextDelta("written "), Pause(), TextDelta("while Redis is away"), StreamEnd("stop")])
    with RedisServer() as own_redis:
        config = dataclasses.replace(settings, redis_url=own_redis.url, run_lease_s=LEASE_S)
        a, b = ChatService(config, provider=answering), ChatService(config, provider=ScriptedProvider())
        await a.start()
        await b.start()
    try:  # Redis is gone from here on: no live events, no requests between the workers
        run_id = await ask(a)
        await answering.paused.wait()
        reading = asyncio.create_task(follow(b, run_id))
        answering.release()
        got = await asyncio.wait_for(reading, WAIT_S)
        assert text_of(got) == "written while Redis is away"
        assert [seq for seq, _, _ in got] == list(range(1, len(got) + 1))
    finally:
        await a.close()
        await b.close()


# What ``reflex run --env prod`` does with several workers: the app module (and with it the
# process's ChatService, app/runtime.py) is built once in granian's supervisor, whose worker
# processes are forks of it; each worker runs the app's lifespan, which starts the service.
FORKED_WORKERS = """
import asyncio, json, multiprocessing, os
from app.runtime import chat_service

service = chat_service()

def serve(queue):
    async def lifespan():
        await service.start()
        queue.put([os.getpid(), service.worker.id])
        await service.close()
    asyncio.run(lifespan())

fork = multiprocessing.get_context("fork")
queue, named = fork.Queue(), []
for _ in range(2):
    worker = fork.Process(target=serve, args=(queue,))
    worker.start()
    named.append(queue.get(timeout=30))
    worker.join()
print(json.dumps(named))
"""


def test_workers_forked_from_one_built_app_are_workers_of_their_own(tmp_path, redis_server):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "ANTHROPIC_", "OLLAMA_", "UNBROKEN_"))}
    env.update(DATABASE_URL=f"sqlite:///{tmp_path}/unbroken.db", REDIS_URL=redis_server.url, UNBROKEN_DEMO="on")
    done = subprocess.run([sys.executable, "-c", FORKED_WORKERS], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    named = json.loads(done.stdout.strip().splitlines()[-1])
    assert len({worker_id for _, worker_id in named}) == 2
    for pid, worker_id in named:  # leases.worker_id: host:pid:random, of the process that serves
        assert worker_id.split(":")[1] == str(pid)


async def test_an_admins_provider_change_on_one_worker_reaches_every_worker(workers):
    a = await workers(ScriptedProvider())
    b = await workers(ScriptedProvider())
    await a.set_provider(LOCAL, "openai", {"models": ["model-a", "model-b"]})
    async with asyncio.timeout(WAIT_S):
        while b.settings != a.settings:
            await asyncio.sleep(0.02)
    assert await b.provider_views(LOCAL) == await a.provider_views(LOCAL)
    assert b.settings.openai_models == ("model-a", "model-b")
