"""The runner against a scripted provider: states, stop, failures and restart recovery."""

from __future__ import annotations

import asyncio
import json

import pytest

from app.engine.errors import AuthError, TransportError
from app.engine.providers.base import StreamEnd, TextDelta
from app.engine.service import ChatService, RunRequest
from tests.fakes.provider import Pause, ScriptedProvider


@pytest.fixture
async def make_service(settings):
    services = []

    async def make(*scripts) -> tuple[ChatService, ScriptedProvider]:
        provider = ScriptedProvider(*scripts)
        service = ChatService(settings, provider=provider)
        await service.start()
        services.append(service)
        return service, provider

    yield make
    for service in services:
        await service.close()


async def start(service: ChatService, content: str = "Hi") -> str:
    run, _ = await service.start_run(RunRequest(content=content, client_request_id=content))
    return run.id


async def finished_view(service: ChatService, run_id: str) -> dict:
    await events_of(service, run_id)
    return await service.run_view(run_id)


async def events_of(service: ChatService, run_id: str) -> list[tuple[str, dict]]:
    got = []
    async for batch in service.follow(run_id, 0):
        got.extend((e.kind, json.loads(e.data)) for e in batch)
    return got


async def test_a_finished_answer_logs_connecting_streaming_deltas_and_end(make_service):
    service, _ = await make_service([TextDelta("Hel"), TextDelta("lo"), StreamEnd("stop")])
    run_id = await start(service)
    events = await events_of(service, run_id)
    states = [data["state"] for kind, data in events if kind != "delta"]
    assert states == ["connecting", "streaming", "complete"]
    assert "".join(data["text"] for kind, data in events if kind == "delta") == "Hello"
    assert [data["seq"] for _, data in events] == list(range(1, len(events) + 1))
    view = await service.run_view(run_id)
    assert (view["state"], view["text"], view["finish_reason"]) == ("complete", "Hello", "stop")
    assert view["attempts"][0]["outcome"] == "ok"


async def test_finish_reason_length_ends_truncated(make_service):
    service, _ = await make_service([TextDelta("Long"), StreamEnd("length")])
    view = await finished_view(service, await start(service))
    assert (view["state"], view["text"], view["finish_reason"]) == ("truncated", "Long", "length")


async def test_stop_keeps_exactly_the_persisted_text(make_service):
    service, provider = await make_service([TextDelta("partial "), TextDelta("answer"), Pause(), TextDelta("never")])
    run_id = await start(service)
    await provider.paused.wait()
    await service.stop_run(run_id)
    view = await service.run_view(run_id)
    assert (view["state"], view["text"]) == ("stopped", "partial answer")
    assert (await events_of(service, run_id))[-1] == ("end", {"seq": view["last_seq"], "state": "stopped",
                                                            "detail": "Stopped"})
    await service.stop_run(run_id)  # stopping again changes nothing
    assert (await service.run_view(run_id))["last_seq"] == view["last_seq"]


async def test_a_rejected_key_before_any_text_fails(make_service):
    service, _ = await make_service([AuthError("The API key was rejected by scripted", provider="scripted",
                                               status=401)])
    view = await finished_view(service, await start(service))
    assert view["state"] == "failed"
    assert view["attempts"][0]["status"] == 401


async def test_a_drop_after_text_keeps_the_partial_as_interrupted(make_service):
    service, _ = await make_service([TextDelta("half"), TransportError("dropped", provider="scripted")])
    run_id = await start(service)
    events = await events_of(service, run_id)
    assert events[-1][1]["state"] == "interrupted"
    assert (await service.run_view(run_id))["text"] == "half"


async def test_a_stream_without_end_marker_is_never_complete(make_service):
    service, _ = await make_service([TextDelta("no end")])
    events = await events_of(service, await start(service))
    assert events[-1][1]["state"] == "interrupted"
    assert "end marker" in events[-1][1]["detail"]


async def test_a_restart_marks_unfinished_runs_interrupted_and_keeps_the_text(settings):
    provider = ScriptedProvider([TextDelta("saved "), TextDelta("text"), Pause()])
    first = ChatService(settings, provider=provider)
    await first.start()
    run_id = await start(first)
    await provider.paused.wait()
    await first.log.durable()
    await first.close()  # the process goes away mid-answer

    second = ChatService(settings, provider=ScriptedProvider())
    await second.start()
    try:
        view = await second.run_view(run_id)
        assert (view["state"], view["text"]) == ("interrupted", "saved text")
        history = second.history.messages(view["conversation_id"])
        assert history[-1].content == "saved text"
    finally:
        await second.close()


async def test_commits_are_batched_across_runs_not_one_per_token(settings):
    from sqlalchemy import event

    many = [TextDelta("x") for _ in range(200)] + [StreamEnd("stop")]
    provider = ScriptedProvider(*[list(many) for _ in range(5)])
    service = ChatService(settings, provider=provider)
    await service.start()
    commits = []
    event.listen(service.store.engine, "commit", lambda conn: commits.append(1))
    try:
        run_ids = [await start(service, f"q{i}") for i in range(5)]
        for run_id in run_ids:
            await events_of(service, run_id)
        texts = [(await service.run_view(r))["text"] for r in run_ids]
    finally:
        await service.close()
    assert texts == ["x" * 200] * 5
    # 1,000 tokens over 5 runs: a handful of shared commits, far fewer than one per token.
    assert len(commits) < 50, len(commits)
