"""M2 (added time to first token) and M5 (resume and replay from the log index).

M5 needs a long log: a run is answered through the app and then its log is rewritten in the
database as the worst case, one ``delta`` event per token (``seed_long_log``); the app reads
finished runs from the database only, so it serves the seeded log like any other.
"""

from __future__ import annotations

import json
import sqlite3
import time

from bench import client
from bench.stats import median, percentile, result
from bench.throughput import stream_id
from bench.upstream import token

M2_SAMPLES = 60
M2_TOKENS = 20
M5_TOKENS = 10_000
M5_RESUME_AFTER = M5_TOKENS // 2
M5_SAMPLES = 20


def _first_token_s(arrivals: client.Arrivals) -> float:
    return arrivals.marks[0][0] - arrivals.started


async def m2(upstream_port: int, app_port: int) -> list[dict]:
    direct, app = [], []
    for _ in range(M2_SAMPLES):  # alternate, so both sides see the same moments of noise
        direct.append(_first_token_s(await client.read_direct(upstream_port, M2_TOKENS, 0, stream_id("m2d"))))
        app.append(_first_token_s(await client.read_through_app(app_port, M2_TOKENS, 0, stream_id("m2a"))))
    added_p50 = (percentile(app, 50) - percentile(direct, 50)) * 1000
    added_p99 = (percentile(app, 99) - percentile(direct, 99)) * 1000
    details = dict(app_p50_ms=round(percentile(app, 50) * 1000, 2), app_p99_ms=round(percentile(app, 99) * 1000, 2),
                   direct_p50_ms=round(percentile(direct, 50) * 1000, 2),
                   direct_p99_ms=round(percentile(direct, 99) * 1000, 2), samples=M2_SAMPLES)
    return [
        result("M2/p50", "added time to first token p50 (POST run → first delta)", "direct request to the fake",
               added_p50, "≤ 10 ms", added_p50 <= 10, unit="ms", **details),
        result("M2/p99", "added time to first token p99", "direct request to the fake",
               added_p99, "≤ 25 ms", added_p99 <= 25, unit="ms"),
    ]


async def finished_run(app_port: int, tokens: int) -> str:
    arrivals = client.Arrivals(started=time.monotonic())
    run_id = await client.start_run(app_port, tokens, 0, stream_id("m5"))
    await client.read_run(app_port, run_id, arrivals)
    return run_id


def seed_long_log(database_path: str, run_id: str, tokens: int) -> int:
    """Rewrite a finished run's log as ``tokens`` one-token deltas between a status and an end;
    returns the new last seq."""
    rows = [(run_id, 1, "status", json.dumps({"seq": 1, "state": "streaming", "attempt": 1, "max_attempts": 6,
                                              "retry_at": None, "detail": ""}, separators=(",", ":")))]
    rows += [(run_id, seq, "delta", json.dumps({"seq": seq, "text": token(seq - 2).decode()}, separators=(",", ":")))
             for seq in range(2, tokens + 2)]
    last = tokens + 2
    rows.append((run_id, last, "end", json.dumps({"seq": last, "state": "complete", "detail": ""},
                                                   separators=(",", ":"))))
    with sqlite3.connect(database_path, timeout=10) as db:
        db.execute("DELETE FROM run_event WHERE run_id = ?", (run_id,))
        db.executemany("INSERT INTO run_event (run_id, seq, kind, data) VALUES (?, ?, ?, ?)", rows)
        db.execute("UPDATE run SET last_seq = ? WHERE id = ?", (last, run_id))
    return last


async def first_event_s(app_port: int, run_id: str, last_event_id: str | None) -> float:
    arrivals = client.Arrivals(started=time.monotonic())
    counter = client.AppTokens(arrivals)
    headers = {"last-event-id": last_event_id} if last_event_id is not None else {}
    await client.stream(app_port, "GET", f"/api/runs/{run_id}/events", counter.feed, headers=headers,
                        until=lambda: arrivals.first_event_at is not None)
    return arrivals.first_event_at - arrivals.started


async def whole_replay_s(app_port: int, run_id: str) -> float:
    """Request → the ``end`` event's bytes. The bytes are only scanned (the replay's events
    were checked once, parsed, by ``check_replay``): the client's parsing is not measured."""
    started, ended_at, received = time.monotonic(), None, bytearray()

    def feed(now: float, data: bytes) -> None:
        nonlocal ended_at
        received.extend(data)
        if b"\nevent: end\n" in received[-len(data) - 16 :]:
            ended_at = now

    await client.stream(app_port, "GET", f"/api/runs/{run_id}/events", feed, until=lambda: ended_at is not None)
    if ended_at is None:
        raise RuntimeError("the replay did not reach its end event")
    return ended_at - started


async def check_replay(app_port: int, run_id: str) -> None:
    arrivals = client.Arrivals(started=time.monotonic())
    counter = await client.read_run(app_port, run_id, arrivals)
    if arrivals.tokens != M5_TOKENS or counter.events != M5_TOKENS + 2:
        raise RuntimeError(f"replay delivered {arrivals.tokens} of {M5_TOKENS} tokens")


async def m5(app_port: int, database_path: str) -> list[dict]:
    long_run = await finished_run(app_port, 1)
    events = seed_long_log(database_path, long_run, M5_TOKENS)
    await check_replay(app_port, long_run)
    fresh, resumed, whole = [], [], []
    for _ in range(M5_SAMPLES):
        # The baseline: a fresh connection (no resume point) to a new run, to its first event.
        new_run = await client.start_run(app_port, 1, 0, stream_id("m5n"))
        fresh.append(await first_event_s(app_port, new_run, None))
        resumed.append(await first_event_s(app_port, long_run, str(M5_RESUME_AFTER)))
        whole.append(await whole_replay_s(app_port, long_run))
    ratio = median(resumed) / median(fresh)
    whole_ms = median(whole) * 1000
    return [
        result("M5/resume", f"reconnect with Last-Event-ID {M5_RESUME_AFTER} in a {M5_TOKENS}-token answer "
               f"({events} events) → first replayed event", "a fresh connection to a new run → its first event",
               ratio, "≤ 1.5×", ratio <= 1.5, resume_ms=round(median(resumed) * 1000, 2),
               fresh_ms=round(median(fresh) * 1000, 2), samples=M5_SAMPLES),
        result("M5/replay", f"replay of the whole {M5_TOKENS}-token answer ({events} events, one per token), "
               "request → end event", "—", whole_ms, "≤ 20 ms", whole_ms <= 20, unit="ms",
               p99_ms=round(percentile(whole, 99) * 1000, 2)),
    ]
