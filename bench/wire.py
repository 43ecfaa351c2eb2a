"""M8, the half that needs no browser: bytes the event stream carries per byte of answer.

The browser's EventSource receives exactly these bytes (the page adds nothing per token), so
the body of ``GET /api/runs/{id}/events`` for a whole answer, divided by the answer's own
bytes, is what M8's second bound (≤ 1.3×) asks. It depends on how many tokens each event
carries (one event per run per log commit), so it is measured at a slow and a fast rate.
The comparison with streaming through Reflex state needs the browser and is not measured.
"""

from __future__ import annotations

import time

from bench import client
from bench.stats import result
from bench.throughput import stream_id
from bench.upstream import TOKEN_CHARS

RATES = ((100.0, 1000), (3000.0, 10_000))  # tokens/s, tokens


async def _stream_bytes(app_port: int, tokens: int, rate_per_s: float) -> int:
    received = 0
    arrivals = client.Arrivals(started=time.monotonic())
    counter = client.AppTokens(arrivals)

    def feed(now: float, data: bytes) -> None:
        nonlocal received
        received += len(data)
        counter.feed(now, data)

    run_id = await client.start_run(app_port, tokens, rate_per_s, stream_id("m8"))
    await client.stream(app_port, "GET", f"/api/runs/{run_id}/events", feed, until=lambda: arrivals.ended)
    if arrivals.tokens != tokens:
        raise RuntimeError(f"the stream carried {arrivals.tokens} of {tokens} tokens")
    return received


async def m8_wire(app_port: int) -> list[dict]:
    rows = []
    for rate_per_s, tokens in RATES:
        ratio = await _stream_bytes(app_port, tokens, rate_per_s) / (tokens * TOKEN_CHARS)
        rows.append(result(f"M8/wire-{rate_per_s:g}", f"event-stream bytes per answer byte, {tokens} tokens at "
                           f"{rate_per_s:g} tokens/s", "the answer's own bytes", ratio, "≤ 1.3×", ratio <= 1.3))
    return rows
