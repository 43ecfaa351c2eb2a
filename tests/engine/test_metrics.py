"""The metric objects: a registry per service, gates read at scrape time, and the folder
several workers share (only the live gauges of a dead worker are forgotten)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from pathlib import Path

from app.engine.gate import CircuitBreaker, SlotQueue
from app.engine.metrics import Metrics, forget_dead_workers
from tests.metrics_scrape import Scrape


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def scraped(metrics: Metrics) -> Scrape:
    body, content_type = metrics.render()
    assert content_type.startswith("text/plain")
    return Scrape(body.decode())


def test_two_services_never_share_a_count():
    first, second = Metrics(), Metrics()
    first.runs.labels("demo", "complete").inc()
    assert scraped(first).value("unbroken_runs_total", state="complete") == 1
    assert scraped(second).value("unbroken_runs_total") == 0


def test_the_breaker_state_is_read_at_each_scrape_so_its_cooldown_shows():
    clock = Clock()
    breaker = CircuitBreaker("openai", failure_threshold=1, cooldown_s=10, clock=clock)
    metrics = Metrics()
    metrics.watch_gate("openai", breaker, SlotQueue(2))
    assert scraped(metrics).value("unbroken_circuit_breaker_state", provider="openai") == 0
    breaker.record_failure()
    assert scraped(metrics).value("unbroken_circuit_breaker_state", provider="openai") == 2
    clock.t = 10  # nothing happened but time: the cooldown is over, one probe may go
    assert scraped(metrics).value("unbroken_circuit_breaker_state", provider="openai") == 1


async def test_the_queue_length_and_active_streams_follow_the_slots():
    slots = SlotQueue(1)
    metrics = Metrics()
    metrics.watch_gate("demo", CircuitBreaker("demo", 5, 30, Clock()), slots)
    async with slots.slot(lambda ahead: None):
        waiting = []

        async def wait_for_slot() -> None:
            async with slots.slot(waiting.append):
                pass

        task = asyncio.create_task(wait_for_slot())
        while not waiting:
            await asyncio.sleep(0)
        now = scraped(metrics)
        assert (now.value("unbroken_upstream_active_streams"), now.value("unbroken_upstream_queue_length")) == (1, 1)
    await task
    after = scraped(metrics)
    assert (after.value("unbroken_upstream_active_streams"), after.value("unbroken_upstream_queue_length")) == (0, 0)


def test_a_dead_workers_live_gauges_are_forgotten_and_its_counts_kept(tmp_path):
    dead = subprocess.Popen(["true"])  # exits at once and stays a zombie until waited for
    try:
        deadline = time.monotonic() + 10
        while Path(f"/proc/{dead.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
            assert time.monotonic() < deadline, "the child did not exit"
            time.sleep(0.01)
        for name in (f"gauge_livesum_{dead.pid}.db", f"gauge_livemax_{dead.pid}.db", f"counter_{dead.pid}.db",
                     f"gauge_livesum_{os.getpid()}.db"):
            (tmp_path / name).touch()
        forget_dead_workers(tmp_path)
    finally:
        dead.wait()
    assert sorted(file.name for file in tmp_path.iterdir()) == sorted([f"counter_{dead.pid}.db",
                                                                       f"gauge_livesum_{os.getpid()}.db"])
