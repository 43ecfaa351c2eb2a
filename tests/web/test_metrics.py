"""``GET /metrics`` after a run that had it all: a 429, a drop mid-answer continued by a
second request, and an event-stream client that reconnected with ``Last-Event-ID``. Against
three workers (``[workers]``) each scrape reaches the next worker, and shows them all."""

from __future__ import annotations

import httpx
import pytest

from tests.fakes.upstream import Answer
from tests.metrics_scrape import scrape, scrape_until
from tests.sse_client import read_events
from tests.web.test_upstream_resilience import FULL, ask

CHUNK, DROPPED_AFTER = 10, 40


@pytest.mark.workers
def test_metrics_count_a_troubled_run_and_its_reconnect(api_against, upstream):
    upstream.set_script(
        Answer(status=429),  # no Retry-After: the backoff's short wait
        Answer(text=FULL, chunk_chars=CHUNK, delay_s=0.005, drop_after_chunks=DROPPED_AFTER),
        Answer(text=FULL[CHUNK * DROPPED_AFTER :], chunk_chars=CHUNK, delay_s=0.005),
    )
    base = api_against(upstream).url
    before = scrape(base)
    assert before.value("unbroken_sse_streams_open") == 0
    run_id = ask(base)
    first = read_events(base, run_id, stop_after=3)  # read a little, then drop the connection
    rest = read_events(base, run_id, last_event_id=first.events[-1][0])  # come back from the last seen
    assert rest.events[-1][1] == "end"
    assert httpx.get(f"{base}/api/runs/{run_id}").json()["state"] == "complete"

    after = scrape_until(base, lambda s: s.value("unbroken_sse_streams_closed_total") >= 2)

    def moved(name: str, **labels: str) -> float:
        return after.value(name, **labels) - before.value(name, **labels)

    assert moved("unbroken_runs_total", state="complete") == 1
    assert moved("unbroken_runs_total") == 1
    assert moved("unbroken_upstream_attempts_total", provider="openai", outcome="rate_limited", status="429") == 1
    assert moved("unbroken_upstream_attempts_total", outcome="transport", status="none") == 1
    assert moved("unbroken_upstream_attempts_total", outcome="ok", status="none") == 1
    assert moved("unbroken_upstream_attempts_total") == 3
    assert moved("unbroken_retries_total", cause="rate_limited") == 1
    assert moved("unbroken_retries_total", cause="transport") == 1
    assert moved("unbroken_continuations_total", trigger="after_failure") == 1
    assert moved("unbroken_continuations_total", trigger="on_request") == 0
    assert moved("unbroken_time_to_first_token_seconds_count", provider="openai") == 1
    assert moved("unbroken_time_to_first_token_seconds_sum") > 0
    assert moved("unbroken_stream_tokens_per_second_count") == 2  # the dropped attempt and the continuation
    # Event streams: two opens, one of them a resume, both closed again.
    assert moved("unbroken_sse_streams_opened_total") == 2
    assert moved("unbroken_sse_streams_resumed_total") == 1
    assert moved("unbroken_sse_streams_closed_total", closed_by="client") == 1
    assert moved("unbroken_sse_streams_closed_total", closed_by="server") == 1
    assert after.value("unbroken_sse_streams_open") == 0
    assert moved("unbroken_sse_sent_bytes_total") > len(FULL)
    # The event log's writer, and the provider's gate at rest.
    assert moved("unbroken_log_commit_events_count") > 0
    assert moved("unbroken_log_commit_events_sum") >= len(rest.events)
    assert moved("unbroken_log_commit_seconds_count") == moved("unbroken_log_commit_events_count")
    assert after.value("unbroken_circuit_breaker_state", provider="openai") == 0
    assert after.value("unbroken_upstream_queue_length", provider="openai") == 0
    assert after.value("unbroken_upstream_active_streams", provider="openai") == 0


@pytest.mark.workers
def test_an_open_stream_shows_in_the_gauge_until_it_closes(api_against, upstream):
    upstream.set_script(Answer(text=FULL, chunk_chars=CHUNK, delay_s=0.02))
    base = api_against(upstream).url
    run_id = ask(base)
    with httpx.Client(timeout=10) as client, client.stream("GET", f"{base}/api/runs/{run_id}/events") as response:
        chunks = response.iter_raw()  # kept: a dropped iterator would close the response
        next(chunks)  # the stream is open: retry and the first ping arrived
        assert scrape(base).value("unbroken_sse_streams_open") == 1
    closed = scrape_until(base, lambda s: s.value("unbroken_sse_streams_open") == 0)
    assert closed.value("unbroken_sse_streams_open") == 0
    assert closed.value("unbroken_sse_streams_closed_total", closed_by="client") == 1


def test_each_service_counts_on_its_own_registry(api_against):
    first, second = api_against().url, api_against().url
    run_id = ask(first, "Hello")
    assert read_events(first, run_id).events[-1][1] == "end"
    counted = scrape_until(first, lambda s: s.value("unbroken_runs_total") == 1)
    assert counted.value("unbroken_runs_total", provider="demo", state="complete") == 1
    assert scrape(second).value("unbroken_runs_total") == 0
