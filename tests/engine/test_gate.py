"""The circuit breaker and the per-provider slot queue."""

from __future__ import annotations

import asyncio

import pytest

from app.engine.gate import BreakerState, CircuitBreaker, CircuitOpen, SlotQueue
from tests.fakes.clock import Clock


def test_the_breaker_opens_after_repeated_failures_and_probes_after_the_cooldown():
    clock = Clock()
    breaker = CircuitBreaker("p", failure_threshold=3, cooldown_s=10, clock=clock)
    for _ in range(2):
        breaker.check()
        breaker.record_failure()
    assert breaker.state == BreakerState.CLOSED
    breaker.record_failure()
    assert breaker.state == BreakerState.OPEN
    clock.t = 4
    with pytest.raises(CircuitOpen) as refused:
        breaker.check()
    assert refused.value.retry_after_s == 6
    clock.t = 10
    breaker.check()  # the probe
    with pytest.raises(CircuitOpen):
        breaker.check()  # only one probe at a time
    breaker.record_failure()  # the probe failed: open again
    assert breaker.state == BreakerState.OPEN
    clock.t = 20
    breaker.check()
    breaker.record_success()
    assert breaker.state == BreakerState.CLOSED
    breaker.check()


def test_a_success_resets_the_failure_count():
    breaker = CircuitBreaker("p", failure_threshold=2, cooldown_s=10, clock=Clock())
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    assert breaker.state == BreakerState.CLOSED


async def test_slots_queue_in_order_and_report_positions():
    queue = SlotQueue(limit=1)
    positions: dict[str, list[int]] = {"b": [], "c": []}
    order: list[str] = []
    release_a = asyncio.Event()

    async def holder(name: str, wait: asyncio.Event | None = None):
        async with queue.slot(positions.setdefault(name, []).append):
            order.append(name)
            if wait is not None:
                await wait.wait()

    a = asyncio.create_task(holder("a", release_a))
    await asyncio.sleep(0)
    b = asyncio.create_task(holder("b"))
    c = asyncio.create_task(holder("c"))
    await asyncio.sleep(0)
    assert queue.queued == 2
    release_a.set()
    await asyncio.gather(a, b, c)
    assert order == ["a", "b", "c"]
    assert positions["b"] == [0]
    assert positions["c"] == [1, 0]
    assert queue.queued == 0


async def test_a_cancelled_waiter_leaves_the_queue():
    queue = SlotQueue(limit=1)
    hold = asyncio.Event()
    seen: list[int] = []

    async def first():
        async with queue.slot(lambda _: None):
            await hold.wait()

    a = asyncio.create_task(first())
    await asyncio.sleep(0)
    b = asyncio.create_task(queue.slot(lambda _: None).__aenter__())
    await asyncio.sleep(0)
    c_entered = asyncio.Event()

    async def third():
        async with queue.slot(seen.append):
            c_entered.set()

    c = asyncio.create_task(third())
    await asyncio.sleep(0)
    b.cancel()
    await asyncio.gather(b, return_exceptions=True)
    assert seen == [1, 0]
    hold.set()
    await asyncio.wait_for(c_entered.wait(), 1)
    await asyncio.gather(a, c)
