"""The server side of /diagnostics: probe streams with a known timing, and open-stream counts."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from app.web.diagnostics import (
    OpenStreams,
    ProbeSend,
    bounded_int,
    caller_address,
    idle_schedule,
    probe_stream,
    tick_schedule,
)
from app.web.responses import HTTPProblem
from tests.fakes.upstream import Answer
from tests.sse_client import timed_events


def _summary(schedule: list[ProbeSend]) -> list[tuple[float, str, int]]:
    return [(round(s.at_s, 3), s.event, s.fields.get("n", -1)) for s in schedule]


def test_the_tick_schedule_sends_ticks_then_the_heartbeats_still_owed_then_done():
    schedule = tick_schedule(ticks=3, interval_s=0.25, heartbeat_s=1.0, pings=2)
    assert _summary(schedule) == [
        (0.25, "tick", 1), (0.5, "tick", 2), (0.75, "tick", 3), (1.0, "ping", 1), (2.0, "ping", 2), (2.0, "done", -1),
    ]
    assert schedule[-1].fields == {"ticks": 3, "pings": 2}


def test_heartbeats_go_on_while_ticks_outlast_them_and_a_tie_goes_to_the_tick():
    schedule = tick_schedule(ticks=4, interval_s=0.5, heartbeat_s=1.0, pings=1)
    assert _summary(schedule) == [
        (0.5, "tick", 1), (1.0, "tick", 2), (1.0, "ping", 1), (1.5, "tick", 3), (2.0, "tick", 4), (2.0, "ping", 2),
        (2.0, "done", -1),
    ]


def test_no_heartbeats_asked_for_and_none_due_means_ticks_and_done_only():
    assert _summary(tick_schedule(ticks=2, interval_s=0.1, heartbeat_s=15.0, pings=0)) == [
        (0.1, "tick", 1), (0.2, "tick", 2), (0.2, "done", -1),
    ]


def test_the_idle_schedule_is_one_event_a_silence_and_one_more():
    assert idle_schedule(7) == [ProbeSend(0.0, "start", {"seconds": 7}), ProbeSend(7.0, "done", {"seconds": 7})]


@pytest.mark.parametrize("raw, expected", [(None, 5), ("", 5), ("1", 1), ("10", 10), (" 3 ", 3)])
def test_a_bounded_parameter_reads_whole_numbers_within_its_range(raw, expected):
    params = {} if raw is None else {"n": raw}
    assert bounded_int(params, "n", 5, (1, 10)) == expected


@pytest.mark.parametrize("raw", ["0", "11", "-1", "2.5", "abc", "١", "9" * 20])
def test_a_bounded_parameter_refuses_anything_else_naming_the_range(raw):
    with pytest.raises(HTTPProblem) as caught:
        bounded_int({"n": raw}, "n", 5, (1, 10))
    assert (caught.value.status, caught.value.code) == (400, "bad_parameter")
    assert "n must be a whole number from 1 to 10" in caught.value.message


@pytest.mark.parametrize("peer, forwarded, expected", [
    ("203.0.113.9", None, "203.0.113.9"),
    ("203.0.113.9", "198.51.100.1", "203.0.113.9"),  # not a local proxy: the header is ignored
    ("127.0.0.1", None, "127.0.0.1"),
    ("127.0.0.1", "198.51.100.1, 10.0.0.2", "198.51.100.1"),
    ("::1", "2001:db8::1", "2001:db8::1"),
    ("127.0.0.1", "not-an-address", "127.0.0.1"),
    (None, "198.51.100.1", "unknown"),
])
def test_the_caller_is_the_peer_or_what_a_local_proxy_forwarded(peer, forwarded, expected):
    assert caller_address(peer, forwarded) == expected


def test_open_streams_count_per_address_and_release_however_the_stream_ends():
    streams = OpenStreams()
    with streams.holding("a"), streams.holding("a"), streams.holding("b"):
        assert (streams.count("a"), streams.count("b"), streams.total) == (2, 1, 3)
    with pytest.raises(RuntimeError), streams.holding("a"):
        raise RuntimeError("the client went away")
    assert (streams.count("a"), streams.total) == (0, 0)


async def test_a_probe_stream_sends_each_event_at_its_time_stamped_with_the_server_time():
    now = [100.0]
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(round(seconds, 3))
        now[0] += seconds

    schedule = [ProbeSend(0.5, "tick", {"n": 1}), ProbeSend(0.5, "tick", {"n": 2}), ProbeSend(2.0, "done", {})]
    chunks = [c async for c in probe_stream(b"retry: 5\n\n", schedule, clock=lambda: now[0], sleep=sleep)]
    assert waits == [0.5, 1.5]
    assert chunks == [
        b"retry: 5\n\n",
        b'event: tick\ndata: {"n": 1, "server_ms": 500}\n\n',
        b'event: tick\ndata: {"n": 2, "server_ms": 500}\n\n',
        b'event: done\ndata: {"server_ms": 2000}\n\n',
    ]


# -- over HTTP ------------------------------------------------------------------------------


def test_the_tick_stream_is_an_unbuffered_event_stream_that_arrives_as_it_is_sent(api_against):
    base = api_against().url  # heartbeat 1 s (tests/conftest.py)
    headers, arrivals = timed_events(f"{base}/api/diagnostics/stream?ticks=5&interval_ms=200&pings=1")
    assert headers["content-type"].startswith("text/event-stream")
    assert headers["cache-control"] == "no-cache" and headers["x-accel-buffering"] == "no"
    assert "content-encoding" not in headers
    kinds = [(a.event, a.data.get("n")) for a in arrivals]
    assert kinds == [("ping", 0), *[("tick", n) for n in range(1, 6)], ("ping", 1), ("done", None)]
    ticks = [a for a in arrivals if a.event == "tick"]
    assert [t.data["server_ms"] for t in ticks] == sorted(t.data["server_ms"] for t in ticks)
    assert ticks[-1].data["server_ms"] >= 950
    assert ticks[-1].at_s - ticks[0].at_s >= 0.6, "sent 800 ms apart, they must not arrive together"
    assert arrivals[-1].data == {"ticks": 5, "pings": 1, "server_ms": arrivals[-1].data["server_ms"]}


def test_the_stream_starts_with_the_configured_retry(api_against):
    base = api_against().url
    with httpx.stream("GET", f"{base}/api/diagnostics/stream?ticks=1&interval_ms=20&pings=0") as resp:
        assert resp.read().startswith(b"retry: 100\n\nevent: ping\n")


@pytest.mark.parametrize("query, message", [
    ("ticks=0", "ticks must be a whole number from 1 to 100."),
    ("ticks=x", "ticks must be a whole number from 1 to 100."),
    ("interval_ms=5", "interval_ms must be a whole number from 20 to 5000."),
    ("pings=9", "pings must be a whole number from 0 to 4."),
    ("ticks=100&interval_ms=5000", "ticks × interval_ms must be at most 60000 ms."),
])
def test_bad_probe_parameters_get_a_clear_400(api_against, query, message):
    resp = httpx.get(f"{api_against().url}/api/diagnostics/stream?{query}")
    assert resp.status_code == 400
    assert resp.json() == {"error": {"code": "bad_parameter", "message": message}}


@pytest.mark.parametrize("query", ["", "seconds=0", "seconds=121", "seconds=1.5"])
def test_the_idle_probe_needs_a_bounded_number_of_seconds(api_against, query):
    resp = httpx.get(f"{api_against().url}/api/diagnostics/idle?{query}")
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "bad_parameter"


def test_the_idle_probe_sends_nothing_for_the_asked_seconds_then_done(api_against):
    _, arrivals = timed_events(f"{api_against().url}/api/diagnostics/idle?seconds=1")
    assert [(a.event, a.data["seconds"]) for a in arrivals] == [("start", 1), ("done", 1)]
    assert arrivals[1].at_s - arrivals[0].at_s >= 0.9
    assert arrivals[1].data["server_ms"] >= 1000


def test_the_overview_tells_the_heartbeat_retry_and_the_caller(api_against):
    body = httpx.get(f"{api_against().url}/api/diagnostics").json()
    assert body == {"heartbeat_interval_ms": 1000, "sse_retry_ms": 100, "client_address": "127.0.0.1",
                    "open_streams": 0}


def _open_streams(base: str, forwarded_for: str | None = None) -> int:
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    return httpx.get(f"{base}/api/diagnostics", headers=headers).json()["open_streams"]


def _wait_for(condition, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("the condition did not come true in time")
        time.sleep(0.02)


def _hold_open(url: str, headers: dict, opened: threading.Event, release: threading.Event) -> None:
    with httpx.Client(timeout=30) as client, client.stream("GET", url, headers=headers) as resp:
        assert resp.status_code == 200
        chunks = resp.iter_raw()  # kept: dropping the iterator would close the connection
        next(chunks)  # the opening bytes
        opened.set()
        release.wait(30)


def test_open_streams_count_run_streams_and_probes_of_the_caller_until_they_close(api_against, upstream):
    upstream.set_script(Answer(text="slow " * 200, chunk_chars=5, delay_s=0.05))
    base = api_against(upstream).url
    run = httpx.post(f"{base}/api/runs", json={"content": "Hi", "client_request_id": "d1"}).json()
    release = threading.Event()
    holders = []
    for url, headers in [
        (f"{base}{run['events_url']}", {}),
        (f"{base}/api/diagnostics/idle?seconds=30", {}),
        (f"{base}/api/diagnostics/idle?seconds=30", {"X-Forwarded-For": "198.51.100.7"}),
    ]:
        opened = threading.Event()
        holder = threading.Thread(target=_hold_open, args=(url, headers, opened, release), daemon=True)
        holder.start()
        assert opened.wait(10)
        holders.append(holder)
    try:
        assert _open_streams(base) == 2
        assert _open_streams(base, forwarded_for="198.51.100.7") == 1
    finally:
        release.set()
        for holder in holders:
            holder.join(10)
    _wait_for(lambda: _open_streams(base) == 0 and _open_streams(base, "198.51.100.7") == 0)
    httpx.post(f"{base}/api/runs/{run['run_id']}/stop")


def test_a_finished_runs_204_is_not_counted(api_against):
    base = api_against().url
    run = httpx.post(f"{base}/api/runs", json={"content": "Hi", "client_request_id": "d2"}).json()
    _, arrivals = timed_events(f"{base}{run['events_url']}")
    last_seq = arrivals[-1].data["seq"]
    assert httpx.get(f"{base}{run['events_url']}?after={last_seq}").status_code == 204
    assert _open_streams(base) == 0

