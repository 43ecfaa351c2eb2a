"""Which httpx transport the numbers favour: the app with httpx's default transport (httpcore
on anyio) and with its own ``asyncio_transport`` (httpcore on asyncio streams), measured
alternately in the same run. Informational: it chose the app's transport, it has no target.

Per transport: tokens/s of one unpaced stream, and the app's CPU time per 1,000 tokens while
``STREAMS`` paced streams run (``/proc`` CPU counters of the app process).
"""

from __future__ import annotations

import asyncio
import time

from bench import client, procs
from bench.stats import median, result
from bench.throughput import stream_id, tokens_per_s

TRANSPORTS = ("httpcore", "asyncio")
ROUNDS = 2
UNPACED_TOKENS = 10_000
STREAMS, RATE_PER_S, DURATION_S = 100, 50.0, 4.0


async def _measure(up: procs.Server, app: procs.Server) -> tuple[float, float]:
    await client.read_through_app(app.port, 100, 0, stream_id("tw"))  # warm: imports, pools, caches
    unpaced = tokens_per_s([await client.read_through_app(app.port, UNPACED_TOKENS, 0, stream_id("tu"))],
                           UNPACED_TOKENS)
    tokens = int(RATE_PER_S * DURATION_S)
    cpu_before = procs.cpu_seconds(app.pid)
    await asyncio.gather(*(client.read_through_app(app.port, tokens, RATE_PER_S, stream_id("tp"))
                           for _ in range(STREAMS)))
    cpu_ms_per_1k = (procs.cpu_seconds(app.pid) - cpu_before) * 1000 / (STREAMS * tokens / 1000)
    return unpaced, cpu_ms_per_1k


def compare(up: procs.Server, workdir: str) -> list[dict]:
    unpaced: dict[str, list[float]] = {name: [] for name in TRANSPORTS}
    cpu: dict[str, list[float]] = {name: [] for name in TRANSPORTS}
    for round_ in range(ROUNDS):
        for name in TRANSPORTS if round_ % 2 == 0 else reversed(TRANSPORTS):
            database = f"{workdir}/transport-{name}-{round_}-{time.time_ns()}.db"
            with procs.Server("bench.app_server", f"{up.url}/v1", database, env={"BENCH_TRANSPORT": name}) as app:
                speed, cost = asyncio.run(_measure(up, app))
            unpaced[name].append(speed)
            cpu[name].append(cost)
    base, other = TRANSPORTS
    return [
        result("T/tokens", "app tokens/s, 1 unpaced stream: asyncio streams ÷ httpx default", "httpx default transport",
               median(unpaced[other]) / median(unpaced[base]), "informational", None,
               **{f"{n}_tokens_per_s": round(median(unpaced[n])) for n in TRANSPORTS}),
        result("T/cpu", f"app CPU per 1k tokens, {STREAMS} streams × {RATE_PER_S:g} tokens/s: asyncio streams ÷ "
               "httpx default", "httpx default transport", median(cpu[other]) / median(cpu[base]),
               "informational (lower is better)", None, **{f"{n}_cpu_ms_per_1k_tokens": round(median(cpu[n]), 1)
                                                          for n in TRANSPORTS}),
    ]
