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
from app.engine.providers.base import ChatRequest, Provider, StreamEnd, TextDelta
from app.engine.seam import SeamJoiner
from app.engine.states import RunState


@dataclasses.dataclass(frozen=True)
class Timeouts:
    first_token_s: float = 60.0  # request sent → first text
    idle_s: float = 30.0  # longest gap between stream items once text flows
    total_s: float = 900.0  # the whole run, retries included


class Attempt:
    """The persisted record of one attempt (visible in ``GET /api/runs/{id}``)."""

    def __init__(self, number: int, started_at: datetime, prefix_chars: int = 0) -> None:
        self.record: dict = {"attempt": number, "started_at": started_at.isoformat()}
        if prefix_chars:
            self.record["continued_from_chars"] = prefix_chars

    def first_text(self, at: datetime) -> None:
        self.record["first_text_at"] = at.isoformat()

    def finish(self, at: datetime, outcome: str, *, status: int | None = None, message: str | None = None) -> None:
        self.record.update({"ended_at": at.isoformat(), "outcome": outcome, "status": status, "error": message})


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
                if not got_text:
                    attempt.first_text(datetime.now(UTC))
                got_text = True
                _show(show, joiner.feed(item.text))
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
