"""A run's timeline and support report, for a run that had it all: a 429, a drop mid-answer
continued by a second request, and a browser that reconnected twice."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime

import httpx
import pytest

from app import __version__
from app.engine.timeline import MAX_BROWSER_EVENTS_PER_REPORT
from tests.conftest import TEST_KEY
from tests.fakes.upstream import Answer
from tests.sse_client import read_events
from tests.web.test_upstream_resilience import FULL, ask

pytestmark = pytest.mark.workers

QUESTION = "Tell me a long story"
CHUNK, DROPPED_AFTER = 10, 40


@pytest.fixture
def troubled_run(api_against, upstream):
    """A finished run and the seqs its two reconnects resumed after."""
    rate_limit_body = {"error": {"message": f"Too many requests for key {TEST_KEY}", "type": "rate_limit"}}
    upstream.set_script(
        Answer(status=429, headers={"Retry-After": "1"}, error_body=rate_limit_body),
        Answer(text=FULL, chunk_chars=CHUNK, delay_s=0.01, drop_after_chunks=DROPPED_AFTER),
        Answer(text=FULL[CHUNK * DROPPED_AFTER :], chunk_chars=CHUNK, delay_s=0.01),
    )
    base = api_against(upstream).url
    run_id = ask(base, QUESTION)
    resumed_after = []
    after = None
    for _ in range(2):  # read a little, drop the connection, come back from the last event seen
        received = read_events(base, run_id, last_event_id=after, stop_after=3)
        after = received.events[-1][0]
        resumed_after.append(int(after))
    browser_report = [
        {"kind": "offline", "at": time.time() * 1000, "online": False},
        {"kind": "reconnect", "after_seq": resumed_after[0], "attempt": 1, "delay_ms": 100},
        {"kind": "online", "online": True},
        {"kind": "reconnect", "after_seq": resumed_after[1], "attempt": 1, "delay_ms": 100},
    ]
    response = httpx.post(f"{base}/api/runs/{run_id}/client-events", json={"events": browser_report})
    assert (response.status_code, response.json()) == (202, {"kept": 4})
    rest = read_events(base, run_id, last_event_id=after)  # to the end, from the last event seen
    assert rest.events[-1][1] == "end"
    run = httpx.get(f"{base}/api/runs/{run_id}").json()
    assert (run["state"], run["text"]) == ("complete", FULL)
    return base, run_id, resumed_after


def timeline_of(base: str, run_id: str, *, stream_closes: int) -> list[dict]:
    """The timeline once the server has noted every closed stream (noted in the background)."""
    deadline = time.monotonic() + 10
    while True:
        entries = httpx.get(f"{base}/api/runs/{run_id}/timeline").json()["entries"]
        if sum(e["kind"] == "stream_close" for e in entries) >= stream_closes or time.monotonic() > deadline:
            return entries
        time.sleep(0.05)


def test_the_timeline_tells_the_whole_story_in_order(troubled_run):
    base, run_id, resumed_after = troubled_run
    entries = timeline_of(base, run_id, stream_closes=3)
    upstream = [e for e in entries if e["source"] == "upstream"]
    assert [(e["kind"], e["attempt"]) for e in upstream] == [
        ("attempt", 1), ("attempt_end", 1),
        ("attempt", 2), ("first_text", 2), ("attempt_end", 2),
        ("attempt", 3), ("first_text", 3), ("attempt_end", 3),
    ]
    rate_limited, dropped, continued = (e for e in upstream if e["kind"] == "attempt_end")
    assert (rate_limited["status"], rate_limited["outcome"], rate_limited["wait_s"]) == (429, "rate_limited", 1.0)
    assert dropped["outcome"] == "transport"
    assert continued["outcome"] == "ok"
    assert next(e for e in upstream if e["kind"] == "attempt" and e["attempt"] == 3)["continued_from_chars"] == (
        CHUNK * DROPPED_AFTER
    )
    server = [e for e in entries if e["source"] == "server"]
    assert server[0]["kind"] == "request" and server[0]["t_ms"] == 0
    assert [e["after_seq"] for e in server if e["kind"] == "stream_open"] == [0, *resumed_after]
    closes = [e for e in server if e["kind"] == "stream_close"]
    assert [c["closed_by"] for c in closes] == ["client", "client", "server"]
    assert all(c["bytes"] > 0 for c in closes)
    end = next(e for e in server if e["kind"] == "end")
    assert (end["state"], end["t_ms"] >= continued["t_ms"]) == ("complete", True)
    browser = [e for e in entries if e["source"] == "browser"]
    assert [(e["kind"], e.get("after_seq")) for e in browser] == [
        ("offline", None), ("reconnect", resumed_after[0]), ("online", None), ("reconnect", resumed_after[1]),
    ]
    assert "client_at" in browser[0]
    times = [e["t_ms"] for e in entries]
    assert times == sorted(times)
    # The 429's wait shows as a gap of at least a second between the first two attempts.
    second_attempt = next(e for e in upstream if e["kind"] == "attempt" and e["attempt"] == 2)
    assert second_attempt["t_ms"] - rate_limited["t_ms"] >= 1000


def test_the_support_report_has_what_support_needs_and_masks_the_key(troubled_run):
    base, run_id, resumed_after = troubled_run
    timeline_of(base, run_id, stream_closes=3)
    response = httpx.get(f"{base}/api/runs/{run_id}/report")
    assert response.status_code == 200
    report = response.json()
    text = json.dumps(report)
    assert TEST_KEY not in text
    assert "Too many requests for key [redacted]" in report["attempts"][0]["error"]
    assert report["app_version"] == __version__
    assert report["run"]["state"] == "complete"
    assert report["request"]["model"] == "gpt-4o-mini"  # the default model of the OpenAI-compatible provider
    assert {"max_tokens", "temperature", "provider"} <= report["request"].keys()
    assert [a["status"] for a in report["attempts"]][:1] == [429]
    reconnects = [e for e in report["timeline"] if e["source"] == "browser" and e["kind"] == "reconnect"]
    assert [e["after_seq"] for e in reconnects] == resumed_after
    # No conversation content: neither the question nor any of the answer.
    assert QUESTION not in text
    assert FULL[:40] not in text and FULL[-40:] not in text


def test_a_browser_report_is_checked_and_bounded(api_against):
    base = api_against().url
    run_id = ask(base, "Hello")
    post = lambda body: httpx.post(f"{base}/api/runs/{run_id}/client-events", json=body)  # noqa: E731
    for body, says in [
        ({}, "events must be a list"),
        ({"events": [{"kind": "watchdog"}]}, "Each event needs a kind"),
        ({"events": []}, "events must be a list"),
        ({"events": [{"kind": "exploded"}]}, "Each event needs a kind"),
        ({"events": [{"kind": "reconnect", "after_seq": "3"}]}, "after_seq must be a whole number"),
        ({"events": [{"kind": "gap", "detail": 5}]}, "detail must be str"),
        ({"events": [{"kind": "online"}] * (MAX_BROWSER_EVENTS_PER_REPORT + 1)}, "events must be a list"),
    ]:
        response = post(body)
        assert response.status_code == 400, body
        assert says in response.json()["error"]["message"]
    assert post({"events": [{"kind": "gap", "detail": "x" * 5000}]}).status_code == 202
    stored = [e for e in httpx.get(f"{base}/api/runs/{run_id}/timeline").json()["entries"] if e["kind"] == "gap"]
    assert len(stored[0]["detail"]) == 300
    unknown = uuid.uuid4().hex
    assert httpx.post(f"{base}/api/runs/{unknown}/client-events", json={"events": [{"kind": "online"}]}).status_code == 404
    assert httpx.get(f"{base}/api/runs/{unknown}/timeline").status_code == 404
    assert httpx.get(f"{base}/api/runs/{unknown}/report").status_code == 404


def test_a_run_keeps_a_bounded_number_of_browser_events(api_against):
    base = api_against().url
    run_id = ask(base, "Hello")
    batch = {"events": [{"kind": "online"}] * MAX_BROWSER_EVENTS_PER_REPORT}
    kept = [httpx.post(f"{base}/api/runs/{run_id}/client-events", json=batch).json()["kept"] for _ in range(11)]
    assert sum(kept) == 500 and kept[-1] == 0


def test_browser_events_are_placed_on_the_server_clock_even_when_the_browser_clock_is_off(api_against):
    base = api_against().url
    run_id = ask(base, "Hello")
    browser_now_ms = (time.time() + 3600) * 1000  # the browser's clock runs an hour ahead
    report = {"sent_at": browser_now_ms,
              "events": [{"kind": "offline", "at": browser_now_ms - 1500}, {"kind": "online", "at": browser_now_ms}]}
    before = datetime.now(UTC)
    assert httpx.post(f"{base}/api/runs/{run_id}/client-events", json=report).status_code == 202
    after = datetime.now(UTC)
    entries = {e["kind"]: e for e in httpx.get(f"{base}/api/runs/{run_id}/timeline").json()["entries"]
               if e["source"] == "browser"}
    offline, online = (datetime.fromisoformat(entries[k]["at"]) for k in ("offline", "online"))
    assert before <= online <= after
    assert (online - offline).total_seconds() == pytest.approx(1.5, abs=0.01)
    assert entries["offline"]["client_at"] == int(browser_now_ms - 1500)
