"""M3/scale (issue 9's throughput check): how many paced streams three workers carry at a fixed
lag, against one worker.

Both deployments have the shape of a scale-out install and differ only in their number of
workers: a database of their own on one Postgres cluster, a Redis of their own, and nginx
running deploy/nginx/unbroken.conf with one ``server`` line per worker
(``tests/fakes/workers.py``); every worker is the app's API with the settings of
``bench/app_server.py``, pointed at the fake upstream, behind a login proxy (``auth=proxy``:
each stream is a user of its own, as a team's are). The client reads through nginx.

Each deployment climbs a ladder of concurrent streams at M3's 50 tokens/s, a step's streams
starting over its first ``RAMP_S``. A step holds when its added lag p99 (through the
deployment, minus that of the same number of streams read directly from the fake at that
step, or at an earlier one if lower) is at most ``LAG_BOUND_MS`` and no stream falls behind
(M3's: a token more than 1 s late, or an incomplete stream). A step that fails is taken once more, since one busy moment of the
shared machine fails a step (a stall of 100 ms delays more than 1% of a step's tokens); a
deployment stops at a step that fails twice, and its capacity is the last step that held.
The direct read and the two deployments take each step in turn, so that the machine's other
work falls on all of them. Lags count the tokens due ``STEADY_AFTER_S`` or later into each
stream: what a deployment carries, not how a stream starts (falling behind counts every
token). Each step records the CPU seconds of every process on the streams' path and of the
rest of the machine, and the deployment's event-log commits (their rate and mean duration).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import random
import time
from collections.abc import Iterator
from pathlib import Path

from bench import client, procs
from bench.app_server import bench_settings
from bench.stats import percentile, result
from bench.throughput import M3_RATE_PER_S, Paced, paced
from tests.fakes.postgres import PostgresCluster
from tests.fakes.redis import RedisServer
from tests.fakes.workers import WorkerDeployment

WORKER_COUNTS = (1, 3)
# Concurrent streams per step: steps of 10 where this machine's capacities lie (a coarser step
# near one worker's capacity would swing the ratio by itself), wider above.
LADDER = (20, 30, 40, 50, 60, 70, 80, 100, 120, 150, 200)
STEP_S = 6.0  # each stream of a step lasts this long
DIRECT_STEP_S = 3.0
RAMP_S = 1.0  # a step's streams start at random moments of its first RAMP_S
STEADY_AFTER_S = 2.0
WARM_UP_STREAMS, WARM_UP_S = 12, 1.5  # before the ladder: every worker opens its connections once
# M3's target (50 ms) is under the floor the log's commit interval (50 ms) sets: a token waits
# up to an interval for its commit, so even the first step (20 streams) shows 55-75 ms added
# at p99 here. The bound is that floor plus 50 ms, the same for both deployments.
LAG_BOUND_MS = 100.0
TARGET_RATIO = 2.0
NGINX_ADDRESS = "127.0.0.1"  # where the workers see requests come from: the trusted login proxy
USER_HEADER = "remote-user"  # Settings.proxy_user_header's default
ADMIN = "bench"  # the first user of a deployment, so its admin: may read /metrics


@dataclasses.dataclass
class Deployment:
    """One deployment's servers: the workers behind nginx, its Redis, the shared Postgres."""

    workers: WorkerDeployment
    redis: RedisServer
    postgres: PostgresCluster

    def cpu_seconds(self, upstream_pid: int) -> dict[str, float]:
        """CPU seconds so far of each process on the streams' path, the client (this process)
        included; Postgres is the cluster both deployments share (the idle one adds next to nothing)."""
        used = {f"worker{number}": procs.cpu_seconds(worker.process.pid)
                for number, worker in enumerate(self.workers.workers, 1)}
        used.update(nginx=procs.tree_cpu_seconds(self.workers.nginx.pid),
                    postgres=procs.tree_cpu_seconds(self.postgres.pid),
                    redis=procs.cpu_seconds(self.redis.pid),
                    fake=procs.cpu_seconds(upstream_pid), client=procs.cpu_seconds(os.getpid()))
        return used

    async def commits(self) -> tuple[float, float]:
        """The deployment's event-log commits so far and the seconds they took: any worker's
        ``/metrics`` counts every worker's (their metrics are shared, as ``scripts/run`` has them)."""
        samples = await client.read_metrics(self.workers.port, {USER_HEADER: ADMIN})
        return samples["unbroken_log_commit_seconds_count"], samples["unbroken_log_commit_seconds_sum"]


@dataclasses.dataclass
class Step:
    """One deployment at one step of the ladder; ``direct_p99_ms``: the lag p99 its added lag
    is counted from (see ``climb``)."""

    streams: int
    app: Paced
    direct_p99_ms: float
    wall_s: float
    cpu_s: dict[str, float]
    commits: tuple[float, float]  # the deployment's commits and their seconds during the step
    retake_of: Step | None = None  # the try before this one, which failed

    def lag_ms(self, q: float) -> float:
        return percentile(self.app.lags, q) * 1000

    @property
    def added_p99_ms(self) -> float:
        return self.lag_ms(99) - self.direct_p99_ms

    @property
    def behind(self) -> int:
        return self.app.behind + self.app.incomplete

    @property
    def held(self) -> bool:
        return self.added_p99_ms <= LAG_BOUND_MS and self.behind == 0


def ramped(read):
    """``read``, started at a random moment of the first ``RAMP_S``: a step's streams arrive
    over a while, as people's questions do, rather than all in the same millisecond."""

    async def read_later(port: int, tokens: int, rate_per_s: float, stream_id: str) -> client.Arrivals:
        await asyncio.sleep(random.uniform(0, RAMP_S))
        return await read(port, tokens, rate_per_s, stream_id)

    return read_later


async def read_as_own_user(port: int, tokens: int, rate_per_s: float, stream_id: str) -> client.Arrivals:
    """Through the app as a user of its own, named by the login proxy's header: as a team's
    streams are. One user's runs start one at a time on each worker (its per-user lock), which
    would make the start of many streams a limit of the benchmark's single user."""
    return await client.read_through_app(port, tokens, rate_per_s, stream_id, headers={USER_HEADER: stream_id})


@contextlib.contextmanager
def deployments(upstream_url: str, workdir: str) -> Iterator[dict[int, Deployment]]:
    """A deployment per worker count, all running at once (idle ones cost next to nothing)."""
    with contextlib.ExitStack() as stack:
        postgres = stack.enter_context(PostgresCluster())
        running = {}
        for count in WORKER_COUNTS:
            redis = stack.enter_context(RedisServer())
            settings = dataclasses.replace(bench_settings(f"{upstream_url}/v1", postgres.new_database(), redis.url),
                                           auth="proxy", trusted_proxies=(NGINX_ADDRESS,))
            workers = stack.enter_context(WorkerDeployment(settings, Path(workdir) / f"workers-{count}", count))
            running[count] = Deployment(workers, redis, postgres)
        yield running


async def take_step(deployment: Deployment, upstream_port: int, upstream_pid: int, streams: int,
                    direct_p99_ms: float) -> Step:
    """``streams`` streams through the deployment, with what each worker's event log committed
    meanwhile, the CPU seconds each process used, and ``other``: what the rest of the machine
    used (a shared machine's other work)."""
    commits_before = await deployment.commits()
    before, machine_before, started = deployment.cpu_seconds(upstream_pid), procs.machine_cpu_seconds(), time.monotonic()
    app = await paced(ramped(read_as_own_user), upstream_port, deployment.workers.port, streams, STEP_S, "m3s",
                      STEADY_AFTER_S)
    wall_s, after, machine = time.monotonic() - started, deployment.cpu_seconds(upstream_pid), procs.machine_cpu_seconds()
    commits_after = await deployment.commits()
    used = {name: after[name] - before[name] for name in after}
    # Counted in clock ticks, the difference can come out a hair below 0 when the rest is idle.
    used["other"] = max(0.0, machine - machine_before - sum(used.values()))
    commits = (commits_after[0] - commits_before[0], commits_after[1] - commits_before[1])
    return Step(streams, app, direct_p99_ms, wall_s, used, commits)


async def climb(running: dict[int, Deployment], upstream: procs.Server) -> tuple[dict[int, list[Step]], list[float]]:
    """Every deployment up the ladder (after a warm-up), step by step in turn, each until a
    step fails twice in a row; returns the steps and the direct read's lag p99 (ms) at each.

    Added lag counts from the direct p99 of the step, or of an earlier step if that was lower:
    the fake's own lag hardly grows with the streams (a few ms), and a direct read that met a
    busy moment of the machine must not hide the deployments' lag."""
    await warm_up(running, upstream.port)
    steps: dict[int, list[Step]] = {count: [] for count in running}
    direct_p99s: list[float] = []
    for streams in LADDER:
        climbing = [count for count in running if all(step.held for step in steps[count])]
        if not climbing:
            break
        direct = await paced(ramped(client.read_direct), upstream.port, upstream.port, streams, DIRECT_STEP_S,
                             "m3sd", STEADY_AFTER_S)
        direct_p99s.append(percentile(direct.lags, 99) * 1000)
        for count in climbing:
            step = await take_step(running[count], upstream.port, upstream.pid, streams, min(direct_p99s))
            if not step.held:  # a busy moment of the shared machine must not end the climb: once more
                failed = step
                step = await take_step(running[count], upstream.port, upstream.pid, streams, min(direct_p99s))
                step.retake_of = failed
            steps[count].append(step)
    return steps, direct_p99s


async def warm_up(running: dict[int, Deployment], upstream_port: int) -> None:
    """A few streams through each deployment, not measured: a worker's first requests open its
    connections to Postgres, Redis and the fake (and nginx's to the workers). The very first
    request makes ``ADMIN`` the deployment's first user, so its admin."""
    for deployment in running.values():
        await client.read_metrics(deployment.workers.port, {USER_HEADER: ADMIN})
        await paced(read_as_own_user, upstream_port, deployment.workers.port, WARM_UP_STREAMS, WARM_UP_S,
                    "m3sw")


def capacity(steps: list[Step]) -> int:
    """The most streams of a step that held (0: not even the first)."""
    return max((step.streams for step in steps if step.held), default=0)


def _step_text(step: Step) -> str:
    """``lag p50/p99 (added p99) ms``, and how many streams fell behind if any."""
    text = f"{step.lag_ms(50):.0f}/{step.lag_ms(99):.0f} ({step.added_p99_ms:+.0f}) ms"
    return text + (f", {step.behind} behind" if step.behind else "")


def _ladder_text(steps: list[Step]) -> str:
    """Each step as ``streams: lag p50/p99 (added p99) ms``, a retaken step with its first try,
    the one that failed marked."""
    parts = []
    for step in steps:
        text = f"{step.streams}: {_step_text(step)}"
        if step.retake_of is not None:
            text += f" (first try: {_step_text(step.retake_of)})"
        parts.append(text + ("" if step.held else ", failed"))
    return "; ".join(parts)


def _commits_text(step: Step) -> str:
    """The deployment's event-log commits per second during a step (all workers') and their
    mean duration."""
    count, seconds = step.commits
    return f"{count / step.wall_s:.1f}/s of {seconds / count * 1000 if count else 0:.0f} ms"


def _cpu_text(step: Step) -> str:
    """CPU seconds of each process during a step, and the cores the machine had busy."""
    used = ", ".join(f"{name} {seconds:.1f}" for name, seconds in step.cpu_s.items())
    return f"{used} in {step.wall_s:.1f} s ({sum(step.cpu_s.values()) / step.wall_s:.2f} cores busy)"


def _workers(count: int) -> str:
    """``1_worker``, ``3_workers``: a deployment in the row's detail names."""
    return f"{count}_worker" + ("" if count == 1 else "s")


def row(steps: dict[int, list[Step]], direct_p99s: list[float]) -> dict:
    """The M3/scale row: the ratio of capacities, each step's lags, and the CPU split of the
    top steps (the last that held and the one that failed) of each deployment."""
    capacities = {count: capacity(steps[count]) for count in WORKER_COUNTS}
    one, many = capacities.values()
    ratio = many / one if one else float("nan")
    details: dict = {f"capacity_{_workers(count)}": held for count, held in capacities.items()}
    details.update(step_s=STEP_S, lags_from_s=STEADY_AFTER_S,
                   direct_p99_ms="; ".join(f"{streams}: {p99:.0f}" for streams, p99 in zip(LADDER, direct_p99s)))
    for count in WORKER_COUNTS:
        name = _workers(count)
        details[f"steps_{name}_p50_p99_ms"] = _ladder_text(steps[count])
        for step in steps[count][-2:]:
            details[f"cpu_s_{name}_at_{step.streams}"] = _cpu_text(step)
            details[f"log_commits_{name}_at_{step.streams}"] = _commits_text(step)
    top = [count for count in WORKER_COUNTS if steps[count] and steps[count][-1].held]
    if top:
        details["held_at_the_ladders_top"] = top  # its capacity is a lower bound
    return result(
        "M3/scale", f"concurrent streams × {M3_RATE_PER_S:g} tokens/s carried at ≤ {LAG_BOUND_MS:g} ms added lag p99, "
        f"none behind: {WORKER_COUNTS[1]} workers ÷ 1 (Postgres, Redis, nginx)",
        "the same deployment with 1 worker (and the streams read directly, per step)", ratio,
        f"≥ {TARGET_RATIO:g}×", bool(one) and ratio >= TARGET_RATIO, **details)


def measure(upstream: procs.Server, workdir: str) -> list[dict]:
    """Start both deployments beside the running fake upstream, climb, and return the row."""
    with deployments(upstream.url, workdir) as running:
        return [row(*asyncio.run(climb(running, upstream)))]
