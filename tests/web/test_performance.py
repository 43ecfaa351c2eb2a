"""Quick checks of what the benchmark's M1, M4 and M5 measure (``python -m bench`` runs the
full ones): loose bounds, set from measured numbers, so that a 2× regression fails.

They use the benchmark's own pieces: the lean fake upstream and the API app in child
processes, and the raw asyncio client. Every ratio is against a baseline measured in the
same test, because the machine is shared and noisy.
"""

from __future__ import annotations

import json
import time

import pytest

from bench import client, latency, procs, storage
from bench.stats import median
from bench.throughput import many, stream_id, tokens_per_s


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    database = str(tmp_path_factory.mktemp("bench") / "bench.db")
    with procs.Server("bench.upstream") as upstream:
        with procs.Server("bench.app_server", f"{upstream.url}/v1", database) as app:
            yield upstream, app, database


def reference_cpu_s(tokens: int) -> float:
    """This process's CPU time for a yardstick of per-token Python work: one small event to
    JSON and back per token. The app's cost is counted in it, so a faster or slower machine
    moves both alike."""
    started = time.process_time()
    for seq in range(tokens):
        json.loads(json.dumps({"seq": seq, "text": " token"}))
    return time.process_time() - started


async def test_relaying_a_token_costs_a_bounded_share_of_cpu_time(servers):
    _upstream, app, _database = servers
    cpu_before = procs.cpu_seconds(app.pid)
    for _ in range(5):
        tokens_per_s(await many(client.read_through_app, app.port, 1, 5000, 0, "qa"), 5000)  # all 5000 arrived
    app_cpu_s = procs.cpu_seconds(app.pid) - cpu_before
    # CPU time, not tokens per second against the fake's own speed: on shared cores the fake's
    # rate swung between 180k and 380k tokens/s from one machine to the next, and that ratio
    # with it. Measured: the app's CPU for 25,000 tokens (0.8 s) was 11.7–12.6 times the
    # yardstick's for as many; the relay's rate is the benchmark's M1. A 2× costlier relay fails.
    assert app_cpu_s / reference_cpu_s(25_000) <= 22


async def test_log_commits_do_not_grow_with_streams_and_storage_is_linear(servers):
    upstream, app, database = servers
    commits = client.commits_reader(app.port)
    # One writer commits every run's events together at most every 50 ms: measured 19–20/s
    # for 1 and for 20 streams; a commit per stream (or per token) would be far above 30.
    assert await storage.commits_per_s(app.port, commits, 20, window_s=2.0) <= 30
    short, _ = await storage.bytes_per_answer_byte(app.port, app.pid, database, 4, 1000)
    long, _ = await storage.bytes_per_answer_byte(app.port, app.pid, database, 1, 4000)
    # Measured 2.4–2.6 stored bytes per answer byte at both sizes; quadratic storage (the whole
    # text again per commit) would grow with the answer.
    assert short <= 8 and long <= 8
    assert 0.5 <= long / short <= 2


async def test_a_resume_deep_in_a_long_answer_starts_as_fast_as_a_fresh_stream(servers):
    _upstream, app, database = servers
    long_run = await latency.finished_run(app.port, 1)
    latency.seed_long_log(database, long_run, latency.M5_TOKENS)
    await latency.check_replay(app.port, long_run)
    fresh, resumed = [], []
    for _ in range(7):
        new_run = await client.start_run(app.port, 1, 0, stream_id("qn"))
        fresh.append(await latency.first_event_s(app.port, new_run, None))
        resumed.append(await latency.first_event_s(app.port, long_run, str(latency.M5_RESUME_AFTER)))
    # Measured 0.7–0.9× (the replay is paged); before paging it was 3.1×.
    assert median(resumed) / median(fresh) <= 2.0
