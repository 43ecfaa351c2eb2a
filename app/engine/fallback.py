"""Asking without streaming when streaming keeps failing.

Some paths break streams while plain requests work: LLM gateways whose streaming mode fails,
proxies and CDNs that cut or hold long responses. ``StreamFallback`` watches one provider's
streaming attempts: after ``after_failures`` failures in a row of the kinds a plain request
avoids (``STREAM_BREAKS``: the stream dropped, stalled, or ended without its end marker), the
provider's attempts ask without streaming for ``hold_s``; then streaming is tried again, and
one streaming success clears the count. With ``always`` every attempt asks without streaming
(configured for a gateway known to break streams).

A plain attempt goes through the same runner code as a stream (``PlainRequest`` makes the
whole answer look like a stream of one piece), so retries, continuations and the seam work
the same; the run's attempts record ``"transport": "plain"`` with the reason.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable

from app.engine.providers.base import ChatRequest, StreamItem, WrappedProvider

STREAM_BREAKS = frozenset({"transport", "timeout", "incomplete_stream"})


class StreamFallback:
    """One provider's choice between streaming and plain requests. Not thread-safe (event loop)."""

    def __init__(self, after_failures: int = 2, hold_s: float = 300.0, always: bool = False,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._after_failures = after_failures
        self._hold_s = hold_s
        self._always = always
        self._clock = clock
        self._breaks_in_a_row = 0
        self._last_cause = ""
        self._plain_until = 0.0

    def plain_reason(self) -> str | None:
        """Why the next attempt should ask without streaming, or None to stream."""
        if self._always:
            return "streaming is turned off for this provider"
        if self._clock() < self._plain_until:
            return f"its streams failed {self._after_failures} times in a row ({self._last_cause})"
        return None

    def record(self, streamed: bool, cause: str | None) -> None:
        """An attempt's outcome: ``cause`` None for success, else the error's cause."""
        if not streamed:
            return  # a plain attempt says nothing about streams
        if cause is None:
            self._breaks_in_a_row = 0
            self._plain_until = 0.0
        elif cause in STREAM_BREAKS:
            self._breaks_in_a_row += 1
            self._last_cause = cause.replace("_", " ")
            if self._breaks_in_a_row >= self._after_failures:
                self._breaks_in_a_row = 0
                self._plain_until = self._clock() + self._hold_s


class PlainRequest(WrappedProvider):
    """``inner`` asked without streaming, seen as a stream of one piece."""

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamItem]:
        for item in await self.inner.whole_answer(request):
            yield item
