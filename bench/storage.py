"""M4: what the event log writes. Commits per second must not grow with the number of streams
(one writer commits every run's events together), and the database must grow linearly with
the answer: bytes stored per answer byte the same for short and long answers.

Stored bytes are the database file's growth after a WAL checkpoint; written bytes
(``write_bytes`` of the app process: the WAL, checkpoints) are reported alongside.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time

from bench import client, procs
from bench.stats import result
from bench.throughput import stream_id
from bench.upstream import TOKEN_CHARS

COMMITS_RATE_PER_S = 50.0
COMMITS_WINDOW_S = 5.0
SIZE_RATE_PER_S = 3000.0
SHORT_TOKENS, LONG_TOKENS = 2_000, 16_000


async def commits_per_s(app_port: int, metrics, streams: int, window_s: float = COMMITS_WINDOW_S) -> float:
    """Commits per second while ``streams`` answers stream at ``COMMITS_RATE_PER_S`` for ``window_s``."""
    tokens = int(COMMITS_RATE_PER_S * window_s)
    before, started = await metrics(), time.monotonic()
    await asyncio.gather(*(client.read_through_app(app_port, tokens, COMMITS_RATE_PER_S, stream_id("m4c"))
                           for _ in range(streams)))
    return (await metrics() - before) / (time.monotonic() - started)


def stored_bytes(database_path: str) -> int:
    with sqlite3.connect(database_path, timeout=10) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        pages, = db.execute("PRAGMA page_count").fetchone()
        free, = db.execute("PRAGMA freelist_count").fetchone()
        size, = db.execute("PRAGMA page_size").fetchone()
    return (pages - free) * size


async def bytes_per_answer_byte(app_port: int, app_pid: int, database_path: str, answers: int,
                                tokens: int, rate_per_s: float = SIZE_RATE_PER_S) -> tuple[float, float]:
    """``(stored, written)`` database bytes per answer byte over ``answers`` answers, one after another."""
    stored, written = stored_bytes(database_path), procs.written_bytes(app_pid)
    for _ in range(answers):
        await client.read_through_app(app_port, tokens, rate_per_s, stream_id("m4s"))
    answer_bytes = answers * tokens * TOKEN_CHARS
    written = procs.written_bytes(app_pid) - written
    return (stored_bytes(database_path) - stored) / answer_bytes, written / answer_bytes


async def m4(app_port: int, app_pid: int, database_path: str, metrics,
             commits_at_200: float) -> list[dict]:
    one = await commits_per_s(app_port, metrics, 1)
    twenty = await commits_per_s(app_port, metrics, 20)
    short_stored, short_written = await bytes_per_answer_byte(
        app_port, app_pid, database_path, LONG_TOKENS // SHORT_TOKENS, SHORT_TOKENS)
    long_stored, long_written = await bytes_per_answer_byte(app_port, app_pid, database_path, 1, LONG_TOKENS)
    growth = long_stored / short_stored
    rate = f"{SIZE_RATE_PER_S:g} tokens/s"
    return [
        result("M4/commits", "log commits per second at 200 streams × 50 tokens/s (during M3)", "—",
               commits_at_200, "≤ 20/s, independent of streams (0.5–1.5× the 1-stream rate)",
               commits_at_200 <= 20 and 0.5 * one <= commits_at_200 <= 1.5 * one,
               unit="/s", at_1_stream=round(one, 1), at_20_streams=round(twenty, 1),
               at_200_streams=round(commits_at_200, 1), os_cpu_count=os.cpu_count()),
        result("M4/bytes-2k", f"DB bytes stored per answer byte, 8 answers of {SHORT_TOKENS} tokens at {rate}", "—",
               short_stored, "≤ 4", short_stored <= 4, written_per_answer_byte=round(short_written, 2)),
        result("M4/bytes-16k", f"DB bytes stored per answer byte, 1 answer of {LONG_TOKENS} tokens at {rate}", "—",
               long_stored, "≤ 4", long_stored <= 4, written_per_answer_byte=round(long_written, 2)),
        result("M4/linear", "stored bytes per answer byte, 16k answer ÷ 2k answers", "the 2k answers",
               growth, "≈ 1 (linear: 0.5–1.5)", 0.5 <= growth <= 1.5),
    ]
