"""What stands between a run and its provider: a circuit breaker and a concurrency limit.

``CircuitBreaker``: after ``failure_threshold`` retryable failures in a row the circuit
opens; for ``cooldown_s`` new attempts are refused at once with ``CircuitOpen`` (a retryable
error whose ``retry_after_s`` is the time left, so runs wait in ``retrying`` with a visible
countdown instead of hammering a provider that is down). After the cooldown one probe goes
through (half-open): success closes the circuit, failure opens it again.

``SlotQueue``: at most ``limit`` attempts stream from a provider at once; the others wait in
FIFO order and are told their position whenever it changes (the ``queued`` state shows it).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import enum
from collections.abc import AsyncIterator, Callable

from app.engine.errors import RetryableError


class CircuitOpen(RetryableError):
    cause = "circuit_open"


class BreakerState(enum.StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    def __init__(self, provider: str, failure_threshold: int, cooldown_s: float, clock: Callable[[], float]) -> None:
        self.provider = provider
        self.failure_threshold = failure_threshold
        self.cooldown_s = cooldown_s
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._probing = False

    @property
    def state(self) -> BreakerState:
        if self._opened_at is None:
            return BreakerState.CLOSED
        if self._clock() - self._opened_at >= self.cooldown_s:
            return BreakerState.HALF_OPEN
        return BreakerState.OPEN

    def check(self) -> None:
        """Raise ``CircuitOpen`` unless an attempt may go to the provider now."""
        state = self.state
        if state == BreakerState.CLOSED:
            return
        if state == BreakerState.HALF_OPEN and not self._probing:
            self._probing = True  # this attempt is the probe
            return
        left_s = max(0.0, self.cooldown_s - (self._clock() - self._opened_at)) if state == BreakerState.OPEN else 1.0
        raise CircuitOpen(
            f"{self.provider} failed {self.failure_threshold} times in a row; holding new requests for a moment",
            provider=self.provider,
            retry_after_s=left_s,
        )

    def record_success(self) -> None:
        self._failures, self._opened_at, self._probing = 0, None, False

    def record_failure(self) -> None:
        self._failures += 1
        if self._probing or self._failures >= self.failure_threshold:
            self._opened_at, self._probing = self._clock(), False


class SlotQueue:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._active = 0
        self._waiting: collections.deque[_Waiter] = collections.deque()

    @property
    def queued(self) -> int:
        return len(self._waiting)

    @property
    def active(self) -> int:
        """Slots held now."""
        return self._active

    @contextlib.asynccontextmanager
    async def slot(self, on_position: Callable[[int], None]) -> AsyncIterator[None]:
        """Hold one of the provider's slots; ``on_position(n)`` reports n attempts ahead."""
        if self._active < self.limit and not self._waiting:
            self._active += 1
        else:
            waiter = _Waiter(on_position)
            self._waiting.append(waiter)
            on_position(len(self._waiting) - 1)
            try:
                await waiter.granted
            except asyncio.CancelledError:
                if waiter.granted.done() and not waiter.granted.cancelled():
                    self._release()  # granted and cancelled at once: hand the slot on
                else:
                    self._waiting.remove(waiter)
                    self._report_positions()
                raise
        try:
            yield
        finally:
            self._release()

    def _release(self) -> None:
        if self._waiting:
            self._waiting.popleft().granted.set_result(None)  # the slot passes on, _active unchanged
            self._report_positions()
        else:
            self._active -= 1

    def _report_positions(self) -> None:
        for ahead, waiter in enumerate(self._waiting):
            waiter.on_position(ahead)


class _Waiter:
    def __init__(self, on_position: Callable[[int], None]) -> None:
        self.on_position = on_position
        self.granted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
