"""One upstream attempt: read the provider's stream under the run's timeouts.

``stream_attempt`` turns a provider stream into shown text and an ``End``, or raises an
``UpstreamError``: a stream that stalls (no item for ``first_token_s`` before the first
text, ``idle_s`` after it) raises ``UpstreamTimeout``; a stream that stops without its end
marker raises ``IncompleteStream``; the run's total deadline raises ``DeadlineExceeded``.
When the request continues a partial answer, the start of the new text passes through a
``SeamJoiner`` so an echo of the partial's last words is not shown twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime

from app.engine.errors import DeadlineExceeded, IncompleteStream, UpstreamTimeout
from app.engine.events import End
from app.engine.providers.base import ChatRequest, Provider, StreamEnd, TextDelta, Usage
from app.engine.seam import SeamJoiner
from app.engine.states import RunState


@dataclasses.dataclass(frozen=True)
class Timeouts:
    first_token_s: float = 60.0  # request sent → first text
    idle_s: float = 30.0  # longest gap between stream items once text flows
    total_s: float = 900.0  # the whole run, retries included


class Attempt:
    """The persisted record of one attempt (visible in ``GET /api/runs/{id}``), and the pace of
    its text (for the tokens-per-second metric, not persisted)."""

    def __init__(self, number: int, started_at: datetime, prefix_chars: int = 0) -> None:
        self.number = number
        self.record: dict = {"attempt": number, "started_at": started_at.isoformat()}
        if prefix_chars:
            self.record["continued_from_chars"] = prefix_chars
        self.text_deltas = 0
        self._first_text_s: float | None = None
        self._last_text_s: float | None = None

    def text_arrived(self, at: datetime, monotonic_s: float) -> None:
        """Note one text delta from the provider; the first is recorded as ``first_text_at``."""
        if not self.text_deltas:
            self.record["first_text_at"] = at.isoformat()
            self._first_text_s = monotonic_s
        self.text_deltas += 1
        self._last_text_s = monotonic_s

    @property
    def tokens_per_s(self) -> float | None:
        return stream_rate_per_s(self.text_deltas, self._first_text_s, self._last_text_s)

    def finish(self, at: datetime, outcome: str, *, status: int | None = None, message: str | None = None) -> None:
        self.record.update({"ended_at": at.isoformat(), "outcome": outcome, "status": status, "error": message})


def stream_rate_per_s(deltas: int, first_s: float | None, last_s: float | None) -> float | None:
    """The deltas after the first, per second from the first to the last — the stream's own pace,
    without the wait for the first; None when there is nothing to measure (fewer than two
    deltas, or none apart in time)."""
    if deltas < 2 or first_s is None or last_s is None or last_s <= first_s:
        return None
    return (deltas - 1) / (last_s - first_s)


async def stream_attempt(
    provider: Provider,
    request: ChatRequest,
    timeouts: Timeouts,
    deadline: float,
    show: Callable[[str], None],
    attempt: Attempt,
) -> End:
    loop = asyncio.get_running_loop()
    joiner = SeamJoiner(request.prefix)
    got_text = False
    async with contextlib.aclosing(provider.stream(request)) as items:
        while True:
            wait_s = timeouts.idle_s if got_text else timeouts.first_token_s
            left_s = deadline - loop.time()
            try:
                async with asyncio.timeout(min(wait_s, left_s)):
                    item = await anext(items)
            except StopAsyncIteration:
                _show(show, joiner.flush())
                raise IncompleteStream(
                    f"The answer from {provider.name} ended without its end marker", provider=provider.name
                ) from None
            except TimeoutError:
                _show(show, joiner.flush())
                if left_s <= wait_s:
                    raise DeadlineExceeded(
                        f"The answer took longer than the {timeouts.total_s:.0f} s allowed per run",
                        provider=provider.name,
                    ) from None
                what = "sent nothing more" if got_text else "did not start answering"
                raise UpstreamTimeout(f"{provider.name} {what} for {wait_s:g} s", provider=provider.name) from None
            if isinstance(item, TextDelta):
                attempt.text_arrived(datetime.now(UTC), loop.time())
                got_text = True
                _show(show, joiner.feed(item.text))
            elif isinstance(item, Usage):
                attempt.record["usage_tokens"] = item.output_tokens
            elif isinstance(item, StreamEnd):
                _show(show, joiner.flush())
                if joiner.removed_chars:
                    attempt.record["seam_overlap_chars"] = joiner.removed_chars
                return _end_for(item)


def _show(show: Callable[[str], None], text: str) -> None:
    if text:
        show(text)


def _end_for(item: StreamEnd) -> End:
    if item.finish_reason == "length":
        return End(RunState.TRUNCATED, "Reached the length limit", finish_reason=item.finish_reason)
    return End(RunState.COMPLETE, "", finish_reason=item.finish_reason)
