"""M6: memory per idle open SSE connection, the app against a bare Starlette SSE endpoint.

Both servers get ``CONNECTIONS`` connections that stay open and quiet (the app's follow
``IDLE_RUNS`` live runs whose upstream waits between tokens). The figure is each server's
resident memory growth divided by the connections, once every connection has its first bytes.
"""

from __future__ import annotations

import asyncio
import gc

from bench import client, procs
from bench.stats import result
from bench.throughput import stream_id

CONNECTIONS = 1000
IDLE_RUNS = 10
SETTLE_S = 1.0


async def _open(port: int, path: str) -> tuple[asyncio.StreamWriter, asyncio.StreamReader]:
    reader, writer = await asyncio.open_connection(client.HOST, port)
    writer.write(f"GET {path} HTTP/1.1\r\nhost: {client.HOST}:{port}\r\n\r\n".encode())
    await reader.readuntil(b"\r\n\r\n")
    await reader.readuntil(b"event: ping")  # the stream is open and has sent its first bytes
    return writer, reader


async def _growth_per_connection(pid: int, port: int, paths: list[str]) -> float:
    await asyncio.sleep(SETTLE_S)
    before = procs.rss_bytes(pid)
    held = []
    for start in range(0, len(paths), 100):  # in waves, within the listen backlog
        held += await asyncio.gather(*(_open(port, path) for path in paths[start : start + 100]))
    await asyncio.sleep(SETTLE_S)
    after = procs.rss_bytes(pid)
    for writer, _reader in held:
        writer.close()
    gc.collect()
    return (after - before) / len(paths)


async def m6(app: procs.Server, bare: procs.Server) -> list[dict]:
    # Live runs that stay quiet: one token now, the next in 1000 s; stopped at the end.
    run_ids = [await client.start_run(app.port, 2, 0.001, stream_id("m6")) for _ in range(IDLE_RUNS)]
    paths = [f"/api/runs/{run_ids[i % IDLE_RUNS]}/events" for i in range(CONNECTIONS)]
    app_bytes = await _growth_per_connection(app.pid, app.port, paths)
    bare_bytes = await _growth_per_connection(bare.pid, bare.port, ["/sse"] * CONNECTIONS)
    for run_id in run_ids:
        await client.request_json(app.port, "POST", f"/api/runs/{run_id}/stop")
    ratio = app_bytes / bare_bytes
    return [result("M6", f"memory per idle open SSE connection ({CONNECTIONS} connections)",
                   "a bare Starlette SSE endpoint", ratio, "≤ 1.5×", ratio <= 1.5,
                   app_kib=round(app_bytes / 1024, 1), bare_kib=round(bare_bytes / 1024, 1))]
