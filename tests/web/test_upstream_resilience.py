"""Upstream failures through the whole engine, against the fake upstream on loopback: every
failure becomes a retry, a continuation or a clear state — never a lost answer."""

from __future__ import annotations

import uuid
from datetime import datetime

import httpx
import pytest

from tests import stored
from tests.conftest import provider_settings
from tests.fakes.upstream import Answer
from tests.sse_client import read_events

pytestmark = pytest.mark.workers

FORMATS = ["openai", "responses", "anthropic", "ollama"]
KEYED_FORMATS = ["openai", "responses", "anthropic"]
FULL = "".join(f"Sentence number {i} of the long answer. " for i in range(25))


def ask(base: str, content: str = "Tell me a long story") -> str:
    response = httpx.post(f"{base}/api/runs", json={"content": content, "client_request_id": uuid.uuid4().hex})
    assert response.status_code == 201, response.text
    return response.json()["run_id"]


def finish(base: str, run_id: str) -> tuple[dict, list]:
    events = []
    for _ in range(20):  # a stream may close without an end while a run is handed over; resume
        after = str(events[-1][2]["seq"]) if events else None
        received = read_events(base, run_id, last_event_id=after, timeout_s=30)
        events += received.events
        if received.status == 204 or (events and events[-1][1] == "end"):
            break
    return httpx.get(f"{base}/api/runs/{run_id}").json(), events


def states(events) -> list[str]:
    return [data["state"] for _, kind, data in events if kind in ("status", "end")]


def seconds_between(earlier: str, later: str) -> float:
    return (datetime.fromisoformat(later) - datetime.fromisoformat(earlier)).total_seconds()


def test_a_429_with_retry_after_is_retried_after_the_wait(api_against, upstream):
    upstream.set_script(Answer(status=429, headers={"Retry-After": "2"}), Answer(text="Patience pays."))
    base = api_against(upstream).url
    run, events = finish(base, ask(base))
    assert (run["state"], run["text"]) == ("complete", "Patience pays.")
    assert len(upstream.calls) == 2
    first, second = run["attempts"]
    assert (first["outcome"], first["status"], first["wait_s"]) == ("rate_limited", 429, 2.0)
    assert seconds_between(first["ended_at"], second["started_at"]) >= 2.0
    retrying = next(data for _, kind, data in events if data.get("state") == "retrying")
    assert seconds_between(first["ended_at"], retrying["retry_at"]) == pytest.approx(2.0, abs=0.2)
    assert (retrying["attempt"], retrying["max_attempts"]) == (2, 6)


def test_a_retry_after_beyond_the_budget_fails_at_once_with_that_reason(api_against, upstream):
    upstream.set_script(Answer(status=429, headers={"Retry-After": "600"}))
    base = api_against(upstream, retry_budget_s=60.0).url
    run, events = finish(base, ask(base))
    assert run["state"] == "failed"
    assert len(upstream.calls) == 1
    assert "asked to wait 600 s" in events[-1][2]["detail"]
    assert seconds_between(run["attempts"][0]["started_at"], run["attempts"][0]["ended_at"]) < 2


@pytest.mark.parametrize("provider", FORMATS)
def test_a_drop_after_40_percent_continues_to_the_full_text(api_against, upstream, provider):
    chunk, dropped_after, overlap = 10, 40, 17
    partial = FULL[: chunk * dropped_after]
    upstream.set_script(
        Answer(text=FULL, chunk_chars=chunk, drop_after_chunks=dropped_after),
        Answer(text=FULL[len(partial) - overlap :], chunk_chars=chunk),  # the model echoes 17 chars
    )
    base = api_against(upstream, provider).url
    run, events = finish(base, ask(base))
    assert (run["state"], run["text"]) == ("complete", FULL)
    assert len(upstream.calls) == 2
    assert states(events) == ["connecting", "streaming", "retrying", "continuing", "streaming", "complete"]
    assert run["attempts"][0]["outcome"] == "transport"
    assert run["attempts"][1]["continued_from_chars"] == len(partial)
    assert run["attempts"][1]["seam_overlap_chars"] == overlap
    assert partial.rstrip() in str(upstream.calls[1]["body"])  # the partial went back as the prefix


@pytest.mark.parametrize("provider", FORMATS)
def test_a_stall_longer_than_the_idle_timeout_is_detected_within_a_second(api_against, upstream, provider):
    upstream.set_script(
        Answer(text=FULL[:200], chunk_chars=20, stall_after_chunks=3, stall_s=10),
        Answer(text=FULL[60:200], chunk_chars=20),
    )
    base = api_against(upstream, provider, idle_timeout_s=0.5).url
    run, events = finish(base, ask(base))
    assert (run["state"], run["text"]) == ("complete", FULL[:200])
    stalled = run["attempts"][0]
    assert stalled["outcome"] == "timeout"
    assert 0.5 <= seconds_between(stalled["started_at"], stalled["ended_at"]) < 0.5 + 1.0
    assert "sent nothing more for 0.5 s" in stalled["error"]


@pytest.mark.parametrize("provider", FORMATS)
def test_a_stream_without_an_end_marker_never_ends_complete(api_against, upstream, provider):
    upstream.set_script(Answer(text="An answer that just stops", end_marker=False, send_done=False,
                               finish_reason=None))
    base = api_against(upstream, provider, retry_max_attempts=3).url
    run, events = finish(base, ask(base))
    assert run["state"] == "interrupted"
    assert "complete" not in states(events)
    assert len(upstream.calls) == 3
    assert run["text"] == "An answer that just stops"


@pytest.mark.parametrize("provider", FORMATS)
def test_an_in_stream_error_is_retried(api_against, upstream, provider):
    upstream.set_script(Answer(text=FULL[:80], chunk_chars=20, error_event_after_chunks=0), Answer(text=FULL[:80]))
    base = api_against(upstream, provider).url
    run, _ = finish(base, ask(base))
    assert (run["state"], run["text"]) == ("complete", FULL[:80])
    assert len(upstream.calls) == 2


@pytest.mark.parametrize("provider", FORMATS)
def test_finish_reason_length_ends_truncated(api_against, upstream, provider):
    upstream.set_script(Answer(text="Cut short", finish_reason="length"))
    base = api_against(upstream, provider).url
    run, events = finish(base, ask(base))
    assert (run["state"], run["finish_reason"], run["text"]) == ("truncated", "length", "Cut short")
    assert events[-1][2]["detail"] == "Reached the length limit"


def test_529_overload_is_retried(api_against, upstream):
    upstream.set_script(Answer(status=529), Answer(status=529), Answer(text="Finally."))
    base = api_against(upstream, "anthropic").url
    run, _ = finish(base, ask(base))
    assert (run["state"], run["text"]) == ("complete", "Finally.")
    assert [a["outcome"] for a in run["attempts"]] == ["overloaded", "overloaded", "ok"]


@pytest.mark.parametrize("provider", KEYED_FORMATS)
def test_a_bad_key_fails_after_one_call_and_the_key_appears_nowhere(
    api_against, upstream, provider, settings, caplog
):
    canary = "sk-CANARY-" + uuid.uuid4().hex
    caplog.set_level("DEBUG")
    upstream.set_script(Answer(status=401, echo_key_in_401=True))
    server = api_against(upstream, provider, **provider_settings(upstream, provider, key=canary))
    run_id = ask(server.url)
    run, _ = finish(server.url, run_id)
    assert run["state"] == "failed"
    assert len(upstream.calls) == 1
    assert f"The API key was rejected by {provider_name(provider)} (HTTP 401)" in run["attempts"][0]["error"]
    replay = httpx.get(f"{server.url}/api/runs/{run_id}/events?after=0").text
    database = stored.everything(settings.database_url)
    assert canary not in repr(run) + replay + caplog.text
    assert canary.encode() not in database
    assert canary in str(upstream.calls[0]["headers"])  # it was sent, so the test could have failed


def provider_name(provider: str) -> str:
    return {"responses": "openai-responses"}.get(provider, provider)


def test_an_oversized_chunk_passes_through_whole(api_against, upstream):
    big = "x" * 1_500_000  # one 1.5 MB SSE line from the upstream, one huge delta to the browser
    upstream.set_script(Answer(text=big, chunk_chars=len(big)))
    base = api_against(upstream, max_content_chars=10).url
    run, events = finish(base, ask(base, "big"))
    assert run["state"] == "complete" and run["text"] == big
    assert "".join(data["text"] for _, kind, data in events if kind == "delta") == big


def test_a_runaway_line_fails_clearly_instead_of_filling_memory(api_against, upstream):
    upstream.set_script(Answer(text="y" * 5_000_000, chunk_chars=5_000_000))  # past the 4 MiB line limit
    base = api_against(upstream).url
    run, events = finish(base, ask(base, "runaway"))
    assert run["state"] == "failed"
    assert "malformed stream" in events[-1][2]["detail"]
    assert len(upstream.calls) == 1
