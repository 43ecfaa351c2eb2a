"""M1 (tokens/s through the app vs the fake read directly) and M3 (added delivery lag of
200 paced streams), plus the commits/s they cause (for M4).

Every figure comes from the same run as its baseline: the direct and the app rounds alternate.
M3's streams and lags (``paced``) serve M3/scale too (bench/scale.py).
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import math
import time

from bench import client
from bench.stats import median, percentile, result

M1_ONE_TOKENS = 20_000
M1_MANY_STREAMS, M1_MANY_TOKENS = 20, 5_000
M1_ROUNDS = 3
M3_STREAMS, M3_RATE_PER_S = 200, 50.0
M3_APP_S, M3_DIRECT_S = 60.0, 15.0
M3_BEHIND_S = 1.0  # a stream "falls behind" when a token reaches the client later than this

_ids = itertools.count()


def stream_id(prefix: str) -> str:
    return f"{prefix}-{next(_ids)}-{time.time_ns()}"


def tokens_per_s(all_arrivals: list[client.Arrivals], tokens_each: int) -> float:
    for arrivals in all_arrivals:
        if arrivals.tokens != tokens_each or not arrivals.ended:
            raise RuntimeError(f"a stream delivered {arrivals.tokens} of {tokens_each} tokens")
    span_s = max(a.last_at for a in all_arrivals) - min(a.started for a in all_arrivals)
    return len(all_arrivals) * tokens_each / span_s


async def many(read, port: int, streams: int, tokens: int, rate_per_s: float, prefix: str) -> list[client.Arrivals]:
    return await asyncio.gather(*(read(port, tokens, rate_per_s, stream_id(prefix)) for _ in range(streams)))


async def m1(upstream_port: int, app_port: int) -> list[dict]:
    rows = []
    for streams, tokens, target in ((1, M1_ONE_TOKENS, 0.90), (M1_MANY_STREAMS, M1_MANY_TOKENS, 0.80)):
        direct, app = [], []
        for _ in range(M1_ROUNDS):
            direct.append(tokens_per_s(await many(client.read_direct, upstream_port, streams, tokens, 0, "m1d"), tokens))
            app.append(tokens_per_s(await many(client.read_through_app, app_port, streams, tokens, 0, "m1a"), tokens))
        ratio = median(app) / median(direct)
        rows.append(result(
            f"M1/{streams}", f"tokens/s to an SSE client, unpaced upstream, {streams} stream(s) × {tokens} tokens",
            "a client reading the fake upstream directly", ratio, f"≥ {target:.2f}", ratio >= target,
            app_tokens_per_s=round(median(app)), direct_tokens_per_s=round(median(direct)),
            rounds=M1_ROUNDS,
        ))
    return rows


M1_PACED = ((1, 3000.0, 9000), (20, 1000.0, 3000))  # streams, tokens/s each, tokens each


async def m1_paced(upstream_port: int, app_port: int) -> list[dict]:
    """Informational: at the rates fast providers really send, does the relay keep pace?"""
    rows = []
    for streams, rate_per_s, tokens in M1_PACED:
        direct = tokens_per_s(await many(client.read_direct, upstream_port, streams, tokens, rate_per_s, "m1pd"),
                              tokens)
        app = tokens_per_s(await many(client.read_through_app, app_port, streams, tokens, rate_per_s, "m1pa"), tokens)
        rows.append(result(
            f"M1/paced-{streams}", f"tokens/s to an SSE client, {streams} stream(s) paced at {rate_per_s:g} tokens/s",
            "the same streams read directly", app / direct, "informational", None,
            app_tokens_per_s=round(app), direct_tokens_per_s=round(direct)))
    return rows


def lags_s(arrivals: client.Arrivals, start: float, rate_per_s: float) -> list[float]:
    """Each token's delay past its due time ``start + i / rate``, in token order."""
    lags, previous = [], 0
    for at, count in arrivals.marks:
        lags.extend(at - (start + i / rate_per_s) for i in range(previous, count))
        previous = count
    return lags


@dataclasses.dataclass
class Paced:
    """What a batch of paced streams delivered: every token's lag (seconds), the streams that
    ended incomplete or had a token later than ``M3_BEHIND_S``, and how long streams took to
    start (p99 of request → first token)."""

    lags: list[float]
    incomplete: int
    behind: int
    first_token_p99_s: float


async def paced(read, upstream_port: int, port: int, streams: int, duration_s: float, prefix: str,
                since_s: float = 0.0) -> Paced:
    """``streams`` streams at once, each ``M3_RATE_PER_S`` tokens/s for ``duration_s``, read with
    ``read`` from ``port``. Lags count the tokens due ``since_s`` or later; falling behind counts
    every token."""
    tokens = int(M3_RATE_PER_S * duration_s)
    ids = [stream_id(prefix) for _ in range(streams)]
    all_arrivals = await asyncio.gather(*(read(port, tokens, M3_RATE_PER_S, i) for i in ids))
    # Due times count from the moment the fake began each stream (it keeps its schedule, as the
    # direct baseline shows): the lag is the relay's. How long streams took to start is
    # reported beside it (``first_token_p99_s``), so a hidden queue in the app still shows.
    _status, starts = await client.request_json(upstream_port, "GET", "/starts")
    behind, first_counted = 0, math.ceil(since_s * M3_RATE_PER_S)
    lags: list[float] = []
    for i, arrivals in zip(ids, all_arrivals, strict=True):
        every = lags_s(arrivals, starts[i], M3_RATE_PER_S)
        behind += not every or max(every) > M3_BEHIND_S
        lags += every[first_counted:]
    first_tokens = [a.marks[0][0] - a.started for a in all_arrivals if a.marks]
    incomplete = sum(1 for a in all_arrivals if a.tokens != tokens or not a.ended)
    return Paced(lags, incomplete, behind, percentile(first_tokens, 99))


async def m3(upstream_port: int, app_port: int, metrics) -> tuple[list[dict], float]:
    """Returns M3's rows and the app's commits per second during it."""
    direct_run = await paced(client.read_direct, upstream_port, upstream_port, M3_STREAMS, M3_DIRECT_S, "m3d")
    commits_before, started = await metrics(), time.monotonic()
    app_run = await paced(client.read_through_app, upstream_port, app_port, M3_STREAMS, M3_APP_S, "m3a")
    commits_per_s = (await metrics() - commits_before) / (time.monotonic() - started)
    direct, app, behind, incomplete = direct_run.lags, app_run.lags, app_run.behind, app_run.incomplete
    added_p50 = (percentile(app, 50) - percentile(direct, 50)) * 1000
    added_p99 = (percentile(app, 99) - percentile(direct, 99)) * 1000
    details = dict(app_lag_p50_ms=round(percentile(app, 50) * 1000, 2), app_lag_p99_ms=round(percentile(app, 99) * 1000, 2),
                   direct_lag_p50_ms=round(percentile(direct, 50) * 1000, 2),
                   direct_lag_p99_ms=round(percentile(direct, 99) * 1000, 2),
                   added_p50_ms=round(added_p50, 2), streams_behind=behind, streams_incomplete=incomplete,
                   direct_streams_behind=direct_run.behind + direct_run.incomplete,
                   app_duration_s=M3_APP_S, direct_duration_s=M3_DIRECT_S,
                   first_token_p99_ms=round(app_run.first_token_p99_s * 1000),
                   direct_first_token_p99_ms=round(direct_run.first_token_p99_s * 1000))
    rows = [
        result("M3/lag", f"added delivery lag p99, {M3_STREAMS} streams × {M3_RATE_PER_S:g} tokens/s, one worker",
               "the same streams read directly", added_p99, "p99 ≤ 50 ms", added_p99 <= 50, unit="ms", **details),
        result("M3/behind", f"streams with a token later than {M3_BEHIND_S:g} s, or incomplete",
               "—", behind + incomplete, "0", behind + incomplete == 0, unit="streams"),
    ]
    return rows, commits_per_s
