"""Resuming the event stream: a client that drops its connection again and again ends with
exactly the run's text — every seq applied once, no gap — and the upstream asked once."""

from __future__ import annotations

import random
import uuid

import httpx
import pytest

from tests.fakes.upstream import Answer
from tests.sse_client import read_events

# Each also runs against three workers behind nginx (tests/conftest.py, [workers]).
pytestmark = pytest.mark.workers

ANSWER = " ".join(f"word{i}" for i in range(150)) + "."


class Page:
    """What a browser keeps: the last applied seq and the text; applies each seq once."""

    def __init__(self) -> None:
        self.last_seq = 0
        self.text = ""
        self.applied: list[int] = []
        self.ended = False

    def apply(self, events) -> None:
        for event_id, kind, data in events:
            assert event_id == str(data["seq"])
            if data["seq"] <= self.last_seq:
                continue  # already applied
            assert data["seq"] == self.last_seq + 1, "a gap in the log"
            self.last_seq = data["seq"]
            self.applied.append(data["seq"])
            if kind == "delta":
                self.text += data["text"]
            self.ended = kind == "end"


def test_resume_after_twenty_random_drops_applies_each_seq_once(api_against, upstream):
    upstream.set_script(Answer(text=ANSWER, chunk_chars=3, delay_s=0.01))
    base = api_against(upstream).url
    run_id = httpx.post(f"{base}/api/runs", json={"content": "Count", "client_request_id": uuid.uuid4().hex}).json()[
        "run_id"
    ]
    rng = random.Random(20)
    page = Page()
    drops = 0
    while drops < 20:
        received = read_events(base, run_id, last_event_id=str(page.last_seq), stop_after=rng.randint(1, 2))
        assert received.status == 200, "the run ended before twenty drops: make the answer longer"
        page.apply(received.events)
        drops += 1
    # Once with ?after= (what a fresh EventSource uses), then to the end.
    page.apply(read_events(base, run_id, after=str(page.last_seq), stop_after=1).events)
    while not page.ended:
        page.apply(read_events(base, run_id, last_event_id=str(page.last_seq)).events)

    run = httpx.get(f"{base}/api/runs/{run_id}").json()
    assert run["state"] == "complete"
    assert page.text == run["text"] == ANSWER
    assert page.applied == list(range(1, run["last_seq"] + 1))
    assert len(upstream.calls) == 1


def test_a_resume_point_in_the_middle_replays_only_what_follows(api_against):
    base = api_against().url
    run_id = httpx.post(f"{base}/api/runs", json={"content": "Hi", "client_request_id": "r"}).json()["run_id"]
    everything = read_events(base, run_id).events
    middle = len(everything) // 2
    tail = read_events(base, run_id, last_event_id=everything[middle - 1][0]).events
    assert tail == everything[middle:]
