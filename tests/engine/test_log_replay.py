"""Replays from the database come in pages: whole, in order, the first page short."""

from __future__ import annotations

import pytest

from app.engine.accounts import LOCAL
from app.engine.events import Delta
from app.engine.log import REPLAY_FIRST_PAGE_EVENTS, REPLAY_PAGE_EVENTS
from app.engine.providers.base import StreamEnd, TextDelta
from app.engine.run_input import RunRequest
from app.engine.service import ChatService
from app.engine.rows import RunUpdate
from tests.fakes.provider import ScriptedProvider

TICK_S = 60.0


@pytest.fixture
async def service(settings):
    chat = ChatService(settings, provider=ScriptedProvider([TextDelta("Hi"), StreamEnd("stop")]))
    await chat.start()
    yield chat
    await chat.close()


async def _long_finished_run(service: ChatService) -> tuple[str, int]:
    """A finished run whose log is then extended past two pages; returns its id and last seq."""
    run, _ = await service.start_run(LOCAL, RunRequest(content="Hi", client_request_id="long"))
    run_id = run.id
    last = sum([len(batch) async for batch in service.log.follow(run_id, 0, TICK_S)])
    extra = [(run_id, Delta(f"{i} ").to_event(last + 1 + i)) for i in range(REPLAY_FIRST_PAGE_EVENTS + REPLAY_PAGE_EVENTS)]
    service.store.write_batch(extra, {run_id: RunUpdate(last_seq=extra[-1][1].seq)})
    return run_id, extra[-1][1].seq


async def test_a_replay_longer_than_a_page_comes_whole_in_order_first_page_short(service):
    run_id, last_seq = await _long_finished_run(service)
    batches = [batch async for batch in service.log.follow(run_id, 0, TICK_S) if batch]
    assert len(batches[0]) == REPLAY_FIRST_PAGE_EVENTS
    assert [e.seq for batch in batches for e in batch] == list(range(1, last_seq + 1))


async def test_a_resume_deep_in_a_long_log_replays_exactly_what_follows(service):
    run_id, last_seq = await _long_finished_run(service)
    after = REPLAY_PAGE_EVENTS
    seqs = [e.seq async for batch in service.log.follow(run_id, after, TICK_S) for e in batch]
    assert seqs == list(range(after + 1, last_seq + 1))
