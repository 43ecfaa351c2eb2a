"""What the runner counts, against a scripted provider: endings, attempts, continuations and
the time to the first text, for a stop, a Continue and a restart."""

from __future__ import annotations

import dataclasses

from app.engine.accounts import LOCAL
from app.engine.errors import RateLimited
from app.engine.providers.base import StreamEnd, TextDelta
from app.engine.run_input import RunRequest
from app.engine.service import ChatService
from tests.fakes.provider import Pause, ScriptedProvider
from tests.metrics_scrape import Scrape


def scraped(service: ChatService) -> Scrape:
    return Scrape(service.telemetry.metrics.render()[0].decode())


async def drain(service: ChatService, run_id: str) -> None:
    async for _ in service.follow(run_id, 0):
        pass


async def test_a_stop_then_continue_counts_both_endings_and_a_requested_continuation(settings):
    provider = ScriptedProvider([TextDelta("Part one. "), Pause()], [TextDelta("Part two."), StreamEnd("stop")])
    service = ChatService(settings, provider=provider)
    await service.start()
    try:
        run, _ = await service.start_run(LOCAL, RunRequest(content="Hi", client_request_id="c1"))
        await provider.paused.wait()
        await service.stop_run(LOCAL, run.id)
        await service.continue_run(LOCAL, run.id)
        await drain(service, run.id)
        metrics = scraped(service)
    finally:
        await service.close()
    assert metrics.value("unbroken_runs_total", provider="scripted", state="stopped") == 1
    assert metrics.value("unbroken_runs_total", provider="scripted", state="complete") == 1
    assert metrics.value("unbroken_upstream_attempts_total", outcome="stopped", status="none") == 1
    assert metrics.value("unbroken_upstream_attempts_total", outcome="ok") == 1
    assert metrics.value("unbroken_continuations_total", provider="scripted", trigger="on_request") == 1
    assert metrics.value("unbroken_continuations_total", trigger="after_failure") == 0
    assert metrics.value("unbroken_retries_total") == 0
    assert metrics.value("unbroken_time_to_first_token_seconds_count") == 2  # the answer, then the Continue


async def test_a_retried_failure_counts_as_an_attempt_and_a_retry(settings):
    provider = ScriptedProvider(
        [RateLimited("slow down", provider="scripted", status=429, retry_after_s=0.01)],
        [TextDelta("Fine."), StreamEnd("stop")],
    )
    service = ChatService(settings, provider=provider)
    await service.start()
    try:
        run, _ = await service.start_run(LOCAL, RunRequest(content="Hi", client_request_id="c1"))
        await drain(service, run.id)
        metrics = scraped(service)
    finally:
        await service.close()
    assert metrics.value("unbroken_upstream_attempts_total", outcome="rate_limited", status="429") == 1
    assert metrics.value("unbroken_retries_total", provider="scripted", cause="rate_limited") == 1
    assert metrics.value("unbroken_runs_total", state="complete") == 1
    assert metrics.value("unbroken_time_to_first_token_seconds_count") == 1


async def test_a_run_ended_by_a_restart_counts_as_interrupted(settings):
    provider = ScriptedProvider([TextDelta("saved "), Pause()])
    first = ChatService(settings, provider=provider)
    await first.start()
    run, _ = await first.start_run(LOCAL, RunRequest(content="Hi", client_request_id="c1"))
    await provider.paused.wait()
    await first.close()  # the process goes away mid-answer: no ending counted
    assert scraped(first).value("unbroken_runs_total") == 0
    second = ChatService(dataclasses.replace(settings, auto_continue=False), provider=ScriptedProvider())
    await second.start()
    try:
        assert scraped(second).value("unbroken_runs_total", provider="scripted", state="interrupted") == 1
    finally:
        await second.close()
