"""The long-poll fallback: the same events as the stream, as JSON."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.fakes.upstream import Answer
from tests.sse_client import read_events

# Each also runs against three workers behind nginx (tests/conftest.py, [workers]).
pytestmark = pytest.mark.workers


def poll(base: str, run_id: str, after: int | str) -> httpx.Response:
    return httpx.get(f"{base}/api/runs/{run_id}/poll", params={"after": after}, timeout=40)


def test_polling_from_zero_to_the_end_gives_exactly_the_streamed_events(api_against, upstream):
    upstream.set_script(Answer(text="word " * 60, chunk_chars=5, delay_s=0.02))
    base = api_against(upstream).url
    run_id = httpx.post(f"{base}/api/runs", json={"content": "Poll me", "client_request_id": "p1"}).json()["run_id"]
    polled, after = [], 0
    while not polled or polled[-1]["event"] != "end":
        body = poll(base, run_id, after).json()
        assert body["events"], "a poll on a live run answers only with news"
        polled += body["events"]
        after = polled[-1]["seq"]
    streamed = read_events(base, run_id).events
    assert [(e["seq"], e["event"], e["data"]) for e in polled] == [(d["seq"], k, d) for _, k, d in streamed]
    assert body["state"] == "complete"


def test_a_poll_past_the_end_answers_at_once_with_nothing(api_against):
    base = api_against().url
    run_id = httpx.post(f"{base}/api/runs", json={"content": "Hi", "client_request_id": "p2"}).json()["run_id"]
    last = read_events(base, run_id).events[-1][2]["seq"]
    started = time.monotonic()
    body = poll(base, run_id, last).json()
    assert body == {"state": "complete", "events": []}
    assert time.monotonic() - started < 5


def test_a_poll_with_a_bad_resume_point_or_run_is_refused(api_against):
    base = api_against().url
    run_id = httpx.post(f"{base}/api/runs", json={"content": "Hi", "client_request_id": "p3"}).json()["run_id"]
    assert poll(base, run_id, "x").status_code == 400
    assert poll(base, "nope", 0).status_code == 404
    read_events(base, run_id)
