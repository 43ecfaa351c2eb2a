"""Chaos mode's plans and faults: bounded per run, only the enabled kinds, and each fault the
same error a real provider failure raises."""

from __future__ import annotations

import asyncio
import dataclasses
import random
from datetime import UTC, datetime

import pytest

from app.engine.accounts import LOCAL
from app.engine.attempts import Attempt, Timeouts, stream_attempt
from app.engine.chaos import (
    EVENTS_BEFORE_CUT, FAULTS, MAX_STREAM_CUTS_PER_RUN, MAX_UPSTREAM_FAULTS_PER_RUN, RATE_LIMIT_RETRY_AFTER_S, Chaos, FaultyProvider,
    UnknownFault, check_faults,
)
from app.engine.errors import Overloaded, RateLimited, TransportError, UpstreamTimeout
from app.engine.providers.base import ChatMessage, ChatRequest
from app.engine.providers.demo import DemoProvider, demo_answer
from app.engine.run_input import RunRequest
from app.engine.service import ChatService

REQUEST = ChatRequest(messages=(ChatMessage("user", "Why?"),), model="demo")


def demo() -> DemoProvider:
    return DemoProvider(tokens_per_s=1e6)


def test_off_changes_nothing():
    chaos, provider = Chaos(enabled=False), demo()
    assert chaos.provider_for("r1", provider) is provider
    assert chaos.stream_cut_after("r1") is None


@pytest.mark.parametrize("seed", range(20))
def test_every_run_meets_bounded_trouble(seed):
    chaos, provider = Chaos(enabled=True, rng=random.Random(seed)), demo()
    faulty = [chaos.provider_for("r1", provider) for _ in range(10)]
    faults = [p.fault for p in faulty if isinstance(p, FaultyProvider)]
    assert 1 <= len(faults) <= MAX_UPSTREAM_FAULTS_PER_RUN
    assert all(p is provider for p in faulty[len(faults):])  # the faults come first, then it works
    cuts = [chaos.stream_cut_after("r1") for _ in range(10)]
    assert [c is not None for c in cuts] == [True] * MAX_STREAM_CUTS_PER_RUN + [False] * (10 - MAX_STREAM_CUTS_PER_RUN)
    low, high = EVENTS_BEFORE_CUT
    assert all(low <= c <= high for c in cuts[:MAX_STREAM_CUTS_PER_RUN])


def test_only_the_enabled_faults_happen():
    chaos = Chaos(enabled=True, faults=["overload"], rng=random.Random(1))
    for run in range(20):
        assert chaos.provider_for(f"r{run}", demo()).fault == "overload"
        assert chaos.stream_cut_after(f"r{run}") is None
    chaos.configure(True, ["stream_cut"])
    assert chaos.provider_for("fresh", demo()).__class__ is DemoProvider
    assert chaos.stream_cut_after("fresh") is not None


def test_fault_names_are_checked():
    assert check_faults(["stream_cut", "rate_limit"]) == ("rate_limit", "stream_cut")
    with pytest.raises(UnknownFault, match="Unknown fault\\(s\\): meteor; known: rate_limit"):
        check_faults(["meteor"])
    assert Chaos().view() == {"enabled": False, "faults": list(FAULTS), "available": list(FAULTS)}


async def attempt_with(fault: str, words: int = 3, timeouts: Timeouts = Timeouts()):
    shown: list[str] = []
    deadline = asyncio.get_running_loop().time() + 60
    provider = FaultyProvider(demo(), fault, words)
    await stream_attempt(provider, REQUEST, timeouts, deadline, shown.append, Attempt(1, started_at=datetime.now(UTC)))
    return shown


async def test_rate_limit_and_overload_fail_before_any_text_like_real_ones():
    with pytest.raises(RateLimited) as limited:
        await attempt_with("rate_limit")
    assert (limited.value.status, limited.value.retry_after_s) == (429, RATE_LIMIT_RETRY_AFTER_S)
    assert "chaos mode" in limited.value.message
    with pytest.raises(Overloaded) as overloaded:
        await attempt_with("overload")
    assert overloaded.value.status == 503


async def test_a_drop_comes_after_the_given_words():
    shown: list[str] = []
    provider = FaultyProvider(demo(), "upstream_drop", 4)
    with pytest.raises(TransportError, match="dropped the connection mid-answer"):
        async for item in provider.stream(REQUEST):
            shown.append(item.text)
    assert "".join(shown) == demo_answer("Why?")[: len("".join(shown))] and len(shown) == 4


async def test_a_stall_is_silence_that_the_idle_timeout_ends():
    with pytest.raises(UpstreamTimeout, match="sent nothing more for 0.2 s"):
        await attempt_with("upstream_stall", timeouts=Timeouts(idle_s=0.2))


async def test_injected_stream_breaks_never_switch_a_provider_to_plain_requests(settings):
    service = ChatService(dataclasses.replace(settings, chaos=True, chaos_faults=("upstream_drop",)),
                          provider=DemoProvider(tokens_per_s=1e6))
    await service.start()
    try:
        for question in [f"question {n}" for n in range(8)]:  # each: one or two drops, then it streams on
            run, _ = await service.start_run(LOCAL, RunRequest(content=question, client_request_id=question))
            view = await finished(service, run.id)
            assert view["text"] == demo_answer(question)
            assert all(a.get("transport") != "plain" for a in view["attempts"])
    finally:
        await service.close()


async def finished(service: ChatService, run_id: str) -> dict:
    async for _ in service.follow(run_id, 0):
        pass
    return await service.run_view(LOCAL, run_id)
