"""The runner against a scripted provider: states, stop, failures and restart recovery."""

from __future__ import annotations

import asyncio
import dataclasses
import json

import pytest

from app.engine.accounts import LOCAL
from app.engine.errors import AuthError, Overloaded, RateLimited, TransportError
from app.engine.providers.base import StreamEnd, TextDelta
from app.engine.runner import RunnerClock
from app.engine.run_input import RunRequest
from app.engine.service import ChatService
from tests.fakes.provider import Pause, ScriptedProvider


class FakeSleep:
    """Records the waits the runner asks for and returns at once."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        await asyncio.sleep(0)


@pytest.fixture
def sleeps() -> FakeSleep:
    return FakeSleep()


@pytest.fixture
async def make_service(settings, sleeps):
    services = []

    async def make(*scripts, **overrides) -> tuple[ChatService, ScriptedProvider]:
        provider = ScriptedProvider(*scripts)
        config = dataclasses.replace(settings, **overrides)
        service = ChatService(config, provider=provider, clock=RunnerClock(sleep=sleeps, random=lambda: 0.5))
        await service.start()
        services.append(service)
        return service, provider

    yield make
    for service in services:
        await service.close()


async def start(service: ChatService, content: str = "Hi") -> str:
    run, _ = await service.start_run(LOCAL, RunRequest(content=content, client_request_id=content))
    return run.id


async def finished_view(service: ChatService, run_id: str) -> dict:
    await events_of(service, run_id)
    return await service.run_view(LOCAL, run_id)


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
    view = await service.run_view(LOCAL, run_id)
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
    await service.stop_run(LOCAL, run_id)
    view = await service.run_view(LOCAL, run_id)
    assert (view["state"], view["text"]) == ("stopped", "partial answer")
    assert (await events_of(service, run_id))[-1] == ("end", {"seq": view["last_seq"], "state": "stopped",
                                                            "detail": "Stopped", "tokens": 4})
    await service.stop_run(LOCAL, run_id)  # stopping again changes nothing
    assert (await service.run_view(LOCAL, run_id))["last_seq"] == view["last_seq"]


async def test_a_rejected_key_before_any_text_fails_after_one_call(make_service):
    service, provider = await make_service([AuthError("The API key was rejected by scripted", provider="scripted",
                                               status=401)])
    view = await finished_view(service, await start(service))
    assert view["state"] == "failed"
    assert view["attempts"][0]["status"] == 401
    assert len(provider.requests) == 1


def states_of(events) -> list[str]:
    return [data["state"] for kind, data in events if kind != "delta"]


async def test_a_drop_after_text_continues_the_same_answer_without_the_echo(make_service, sleeps):
    service, provider = await make_service(
        [TextDelta("Once upon a time "), TextDelta("there was"), TransportError("dropped", provider="p")],
        [TextDelta("time there was"), TextDelta(" a fox."), StreamEnd("stop")],
        retry_base_delay_s=1.0, retry_max_delay_s=30.0,
    )
    run_id = await start(service)
    events = await events_of(service, run_id)
    assert states_of(events) == ["connecting", "streaming", "retrying", "continuing", "streaming", "complete"]
    view = await service.run_view(LOCAL, run_id)
    assert view["text"] == "Once upon a time there was a fox."
    assert len(provider.requests) == 2
    assert provider.requests[1].prefix == "Once upon a time there was"
    assert [a["outcome"] for a in view["attempts"]] == ["transport", "ok"]
    assert view["attempts"][1]["continued_from_chars"] == len("Once upon a time there was")
    assert view["attempts"][1]["seam_overlap_chars"] == len("time there was")
    assert sleeps.waits == [0.5]  # full jitter: random 0.5 × base 1 s


async def test_a_rate_limit_waits_at_least_retry_after_and_shows_when(make_service, sleeps):
    service, _ = await make_service(
        [RateLimited("p is rate-limiting requests (HTTP 429)", provider="p", status=429, retry_after_s=2.0)],
        [TextDelta("ok"), StreamEnd("stop")],
    )
    events = await events_of(service, await start(service))
    retrying = next(data for kind, data in events if data.get("state") == "retrying")
    assert retrying["retry_at"] is not None and retrying["attempt"] == 2 and retrying["max_attempts"] == 6
    assert "rate-limiting" in retrying["detail"]
    assert sleeps.waits == [2.0]
    assert states_of(events)[-1] == "complete"


async def test_a_retry_after_beyond_the_budget_fails_at_once(make_service, sleeps):
    service, provider = await make_service(
        [RateLimited("p is rate-limiting requests (HTTP 429)", provider="p", status=429, retry_after_s=600.0)],
        retry_budget_s=60.0,
    )
    events = await events_of(service, await start(service))
    assert states_of(events) == ["connecting", "failed"]
    assert "asked to wait 600 s" in events[-1][1]["detail"]
    assert sleeps.waits == [] and len(provider.requests) == 1


async def test_overload_retries_up_to_the_attempt_budget(make_service, sleeps):
    overloaded = Overloaded("p is overloaded (HTTP 529)", provider="p", status=529)
    service, provider = await make_service([overloaded], [overloaded], [overloaded], retry_max_attempts=3)
    events = await events_of(service, await start(service))
    assert states_of(events)[-1] == "failed"
    assert "gave up after 3 attempts" in events[-1][1]["detail"]
    assert len(provider.requests) == 3 and len(sleeps.waits) == 2


async def test_a_stream_without_end_marker_is_never_complete(make_service):
    service, _ = await make_service([TextDelta("no end")], [TextDelta(" still no end")], retry_max_attempts=2)
    events = await events_of(service, run_id := await start(service))
    assert events[-1][1]["state"] == "interrupted"
    assert "end marker" in events[-1][1]["detail"]
    assert (await service.run_view(LOCAL, run_id))["text"] == "no end still no end"


async def test_a_stall_is_detected_after_the_idle_timeout(make_service):
    service, provider = await make_service(
        [TextDelta("before the stall"), Pause()], [TextDelta(" after"), StreamEnd("stop")],
        idle_timeout_s=0.2,
    )
    loop = asyncio.get_running_loop()
    started = loop.time()
    run_id = await start(service)
    events = await events_of(service, run_id)
    assert states_of(events) == ["connecting", "streaming", "retrying", "continuing", "streaming", "complete"]
    retrying = next(data for kind, data in events if data.get("state") == "retrying")
    assert "sent nothing more for 0.2 s" in retrying["detail"]
    assert loop.time() - started < 0.2 + 1.0
    assert (await service.run_view(LOCAL, run_id))["text"] == "before the stall after"


async def test_a_restart_marks_unfinished_runs_interrupted_and_keeps_the_text(settings):
    provider = ScriptedProvider([TextDelta("saved "), TextDelta("text"), Pause()])
    first = ChatService(settings, provider=provider)
    await first.start()
    run_id = await start(first)
    await provider.paused.wait()
    await first.log.durable()
    await first.close()  # the process goes away mid-answer

    second = ChatService(dataclasses.replace(settings, auto_continue=False), provider=ScriptedProvider())
    await second.start()
    try:
        view = await second.run_view(LOCAL, run_id)
        assert (view["state"], view["text"]) == ("interrupted", "saved text")
        assert view["attempts"][-1]["outcome"] == "server_restart"
        history = second.history.messages(view["conversation_id"], LOCAL.id)
        assert history[-1].content == "saved text"
    finally:
        await second.close()


async def test_after_a_restart_an_interrupted_answer_continues_by_itself_a_bounded_number_of_times(settings):
    provider = ScriptedProvider([TextDelta("saved "), Pause()])
    first = ChatService(settings, provider=provider)
    await first.start()
    run_id = await start(first)
    await provider.paused.wait()
    await first.log.durable()
    await first.close()

    again = ScriptedProvider([TextDelta("and more"), Pause()])
    second = ChatService(dataclasses.replace(settings, auto_continue_max=1), provider=again)
    await second.start()
    await again.paused.wait()
    await second.log.durable()
    await second.close()  # the second process dies mid-continuation too

    third = ChatService(dataclasses.replace(settings, auto_continue_max=1), provider=ScriptedProvider())
    await third.start()
    try:
        events = await events_of(third, run_id)
        assert states_of(events) == ["connecting", "streaming", "interrupted", "continuing", "streaming",
                                     "interrupted"]
        view = await third.run_view(LOCAL, run_id)
        assert (view["state"], view["text"]) == ("interrupted", "saved and more")
        assert again.requests[0].prefix == "saved "
        assert [a["outcome"] for a in view["attempts"]].count("server_restart") == 2
    finally:
        await third.close()


async def test_commits_are_batched_across_runs_not_one_per_token(settings):
    from sqlalchemy import event

    many = [TextDelta("x") for _ in range(200)] + [StreamEnd("stop")]
    provider = ScriptedProvider(*[list(many) for _ in range(5)])
    service = ChatService(dataclasses.replace(settings, concurrent_runs=5), provider=provider)
    await service.start()
    commits = []
    event.listen(service.store.engine, "commit", lambda conn: commits.append(1))
    try:
        run_ids = [await start(service, f"q{i}") for i in range(5)]
        for run_id in run_ids:
            await events_of(service, run_id)
        texts = [(await service.run_view(LOCAL, r))["text"] for r in run_ids]
    finally:
        await service.close()
    assert texts == ["x" * 200] * 5
    # 1,000 tokens over 5 runs: a handful of shared commits, far fewer than one per token.
    assert len(commits) < 50, len(commits)


async def test_continue_goes_on_after_a_stop_in_the_same_log(make_service):
    service, provider = await make_service(
        [TextDelta("Part one. "), Pause()], [TextDelta("Part two."), StreamEnd("stop")]
    )
    run_id = await start(service)
    await provider.paused.wait()
    await service.stop_run(LOCAL, run_id)
    stopped = await service.run_view(LOCAL, run_id)
    await service.continue_run(LOCAL, run_id)
    events = await events_of(service, run_id)
    assert states_of(events) == ["connecting", "streaming", "stopped", "continuing", "streaming", "complete"]
    view = await service.run_view(LOCAL, run_id)
    assert view["text"] == "Part one. Part two."
    assert view["last_seq"] > stopped["last_seq"]
    assert provider.requests[1].prefix == "Part one. "



async def test_an_answer_stopped_before_its_first_text_continues_by_asking_anew(make_service):
    service, provider = await make_service([Pause()], [TextDelta("The answer."), StreamEnd("stop")])
    run_id = await start(service)
    await provider.paused.wait()
    await service.stop_run(LOCAL, run_id)
    await service.continue_run(LOCAL, run_id)
    events = await events_of(service, run_id)
    assert states_of(events) == ["connecting", "stopped", "continuing", "streaming", "complete"]
    view = await service.run_view(LOCAL, run_id)
    assert (view["state"], view["text"]) == ("complete", "The answer.")
    assert provider.requests[1].prefix == ""

async def test_a_complete_answer_cannot_be_continued(make_service):
    from app.engine.run_input import Conflict

    service, _ = await make_service([TextDelta("Done."), StreamEnd("stop")])
    run_id = await start(service)
    await events_of(service, run_id)
    with pytest.raises(Conflict):
        await service.continue_run(LOCAL, run_id)


async def test_runs_beyond_the_concurrency_limit_wait_queued_with_their_position(make_service):
    service, provider = await make_service(
        [TextDelta("first"), Pause(), StreamEnd("stop")], [TextDelta("second"), StreamEnd("stop")],
        provider_concurrency=1,
    )
    first = await start(service, "one")
    await provider.paused.wait()
    second = await start(service, "two")

    async def queued_event_logged() -> bool:  # not the row's state: a new run's row starts "queued"
        await service.log.durable()
        logged = await asyncio.to_thread(service.store.events_after, second, 0)
        return any(e.kind == "status" and '"queued"' in e.data for e in logged)

    while not await queued_event_logged():
        await asyncio.sleep(0.01)
    provider.release()
    events = await events_of(service, second)
    queued = next(data for kind, data in events if data.get("state") == "queued")
    assert "0 ahead" in queued["detail"]
    assert states_of(events) == ["queued", "connecting", "streaming", "complete"]
    await events_of(service, first)


async def test_an_open_circuit_holds_new_runs_in_retrying_instead_of_calling(make_service, sleeps):
    down = Overloaded("p is overloaded (HTTP 503)", provider="p", status=503)
    service, provider = await make_service(
        [down], [down], [TextDelta("back"), StreamEnd("stop")],
        breaker_failures=2, breaker_cooldown_s=3600, retry_max_attempts=3,
    )
    events = await events_of(service, await start(service))
    assert states_of(events)[-1] == "failed"
    assert len(provider.requests) == 2  # the third attempt was refused by the open circuit
    assert "failed 2 times in a row" in events[-1][1]["detail"]


async def test_shutting_down_ends_open_streams_so_clients_reconnect_elsewhere(settings):
    provider = ScriptedProvider([TextDelta("half"), Pause()])
    service = ChatService(settings, provider=provider)
    await service.start()
    run_id = await start(service)
    await provider.paused.wait()
    received = []

    async def follow():
        async for batch in service.follow(run_id, 0):
            received.extend(batch)

    follower = asyncio.create_task(follow())
    await service.log.durable()
    await service.close()
    await asyncio.wait_for(follower, 2)  # the stream ended instead of waiting for more
    assert [e.kind for e in received][-1] == "delta"  # no end: the run is not over, only this process


async def test_retry_after_an_end_answers_the_same_question_again_as_a_new_run(make_service):
    service, provider = await make_service(
        [AuthError("The API key was rejected by p", provider="p", status=401)],
        [TextDelta("Second time lucky."), StreamEnd("stop")],
    )
    first = await start(service, "What is the answer?")
    await events_of(service, first)
    retry, created = await service.retry_run(LOCAL, first)
    assert created and retry.id != first
    view = await finished_view(service, retry.id)
    assert (view["state"], view["text"]) == ("complete", "Second time lucky.")
    assert [m.content for m in provider.requests[1].messages] == ["What is the answer?"]
    messages = service.history.messages(view["conversation_id"], LOCAL.id)  # the new answer is a second version
    assert [(m.role, m.run_id, m.version, m.versions) for m in messages] == [
        ("user", None, 1, 1), ("assistant", retry.id, 2, 2)
    ]
    assert messages[1].previous_version_id == (await service.get_run(LOCAL, first)).message_id
    again, created_again = await service.retry_run(LOCAL, first, "same-retry")
    assert created_again and (await service.retry_run(LOCAL, first, "same-retry"))[0].id == again.id


async def test_retry_now_cuts_the_wait_short(settings):
    waits: list[float] = []

    async def slow_sleep(seconds: float) -> None:
        waits.append(seconds)
        await asyncio.sleep(3600)

    provider = ScriptedProvider(
        [Overloaded("p is overloaded (HTTP 503)", provider="p", status=503)], [TextDelta("now"), StreamEnd("stop")]
    )
    service = ChatService(settings, provider=provider, clock=RunnerClock(sleep=slow_sleep, random=lambda: 1.0))
    await service.start()
    try:
        run_id = await start(service)
        while (await service.run_view(LOCAL, run_id))["state"] != "retrying":
            await asyncio.sleep(0.01)
        same, created = await service.retry_run(LOCAL, run_id)
        assert (same.id, created) == (run_id, False)
        view = await asyncio.wait_for(finished_view(service, run_id), 5)
        assert (view["state"], view["text"]) == ("complete", "now")
        assert len(waits) == 1
    finally:
        await service.close()
