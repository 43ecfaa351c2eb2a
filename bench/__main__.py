"""``python -m bench [--only M1,M5,T] [--no-profile]``: run the benchmark, write ``bench/results.json``
and the table in ``bench/README.md``. See bench/README.md for what each scenario measures."""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from bench import browser, client, latency, memory, procs, report, scale, storage, throughput, transport, wire

PROFILE_M1_TOKENS = 20_000
PROFILE_M3_STREAMS, PROFILE_M3_S = 200, 5.0


async def measure(only: set[str], up: procs.Server, app: procs.Server, bare: procs.Server, database: str) -> list[dict]:
    metrics = client.commits_reader(app.port)
    rows: list[dict] = []

    def wanted(name: str) -> bool:
        return not only or name in only

    if wanted("M1"):
        rows += await throughput.m1(up.port, app.port)
        rows += await throughput.m1_paced(up.port, app.port)
    if wanted("M2"):
        rows += await latency.m2(up.port, app.port)
    if wanted("M8"):
        rows += await wire.m8_wire(app.port)
    if wanted("M5"):
        rows += await latency.m5(app.port, database)
    commits_at_200 = None
    if wanted("M3") or wanted("M4"):
        m3_rows, commits_at_200 = await throughput.m3(up.port, app.port, metrics)
        rows += m3_rows
    if wanted("M4"):
        rows += await storage.m4(app.port, app.pid, database, metrics, commits_at_200)
    return rows


def measure_memory(up: procs.Server, bare: procs.Server, workdir: str) -> list[dict]:
    """M6 on an app process of its own: the other scenarios' allocations would hide its growth."""
    with procs.Server("bench.app_server", f"{up.url}/v1", f"{workdir}/memory.db") as app:
        return asyncio.run(memory.m6(app, bare))


async def profile_pass(up: procs.Server, app: procs.Server, scenario: str) -> None:
    if scenario == "M1":
        await client.read_through_app(app.port, PROFILE_M1_TOKENS, 0, throughput.stream_id("prof"))
    else:
        tokens = int(throughput.M3_RATE_PER_S * PROFILE_M3_S)
        await asyncio.gather(*(client.read_through_app(app.port, tokens, throughput.M3_RATE_PER_S,
                                                       throughput.stream_id("prof")) for _ in range(PROFILE_M3_STREAMS)))


def profiles(up: procs.Server, workdir: str) -> dict[str, str]:
    """cProfile's top entries of the app process, per scenario (a separate, profiled instance)."""
    out = {}
    for scenario in ("M1", "M3"):
        path = f"{workdir}/profile-{scenario}.txt"
        with procs.Server("bench.app_server", f"{up.url}/v1", f"{workdir}/profile-{scenario}.db",
                          env={"BENCH_PROFILE": path}) as app:
            asyncio.run(profile_pass(up, app, scenario))
        out[scenario] = Path(path).read_text()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", default="", help="comma-separated metrics, e.g. M1,M5 (M3S: M3/scale) (default: all)")
    parser.add_argument("--no-profile", action="store_true", help="skip the profiled passes")
    args = parser.parse_args()
    only = {name.strip().upper() for name in args.only.split(",") if name.strip()}
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="unbroken-bench-") as workdir:
        database = f"{workdir}/bench.db"
        with procs.Server("bench.upstream") as up, procs.Server("bench.bare_sse") as bare:
            with procs.Server("bench.app_server", f"{up.url}/v1", database) as app:
                rows = asyncio.run(measure(only, up, app, bare, database))
            if not only or "M6" in only:
                rows += measure_memory(up, bare, workdir)
            if "T" in only:  # informational, and it chose the transport already: not in the full run
                rows += transport.compare(up, workdir)
            if not only or "M3S" in only:
                rows += scale.measure(up, workdir)  # 1 and 3 workers on Postgres and Redis behind nginx
            if not only or only & {"M7", "M8"}:
                rows += browser.measure(up.url, only)  # the real app (scripts/run) and Chromium
            profile_text = {} if args.no_profile else profiles(up, workdir)
    results = report.write(rows, profile_text, time.monotonic() - started, partial=bool(only))
    print(report.table(results["results"]))
    print(f"\nwrote {report.RESULTS_JSON} and {report.README} in {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
