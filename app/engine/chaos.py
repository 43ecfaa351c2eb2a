"""Chaos mode: faults injected on purpose, to watch the resilience work in a real browser.

Off by default. ``UNBROKEN_CHAOS=on`` turns it on at start (for demos); the admin switches it
at run time (``PUT /api/chaos``). While it is on, every new answer meets trouble, bounded so
that it still completes:

- upstream: the first one or two attempts of a run fail, each in a way drawn from the
  enabled faults — ``rate_limit`` (HTTP 429 with ``Retry-After: 1``), ``overload`` (503),
  ``upstream_drop`` (the connection drops after a few words), ``upstream_stall`` (the stream
  goes silent after a few words, until the idle timeout notices);
- ``stream_cut``: each event-stream connection of a run is closed by the server after a few
  events, at most ``MAX_STREAM_CUTS_PER_RUN`` times per run, so the browser must reconnect
  and resume.

The faults act at the same seams as real ones: the provider raises the errors a real
adapter raises (the runner cannot tell them apart, except by the word "chaos" in their
message), and a cut stream ends without an ``end`` event, as a dropped connection does. So
the retries, continuations and reconnects the user sees are the real code paths.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import random
from collections.abc import AsyncIterator, Iterable

from app.engine.errors import Overloaded, RateLimited, TransportError
from app.engine.providers.base import ChatRequest, Provider, StreamItem, TextDelta, WrappedProvider

UPSTREAM_FAULTS = ("rate_limit", "overload", "upstream_drop", "upstream_stall")
FAULTS = (*UPSTREAM_FAULTS, "stream_cut")
MAX_UPSTREAM_FAULTS_PER_RUN = 2
MAX_STREAM_CUTS_PER_RUN = 3
RATE_LIMIT_RETRY_AFTER_S = 1.0
WORDS_BEFORE_TROUBLE = (3, 30)  # a drop or stall comes after this many deltas (inclusive range)
EVENTS_BEFORE_CUT = (3, 12)  # a stream is cut after this many events (inclusive range)
REMEMBERED_RUNS = 1000  # the plans of the most recent runs; older runs see no more faults


class UnknownFault(ValueError):
    pass


def check_faults(names: Iterable[str]) -> tuple[str, ...]:
    """The fault names in their canonical order; ``UnknownFault`` for any other name."""
    wanted = set(names)
    unknown = wanted - set(FAULTS)
    if unknown:
        raise UnknownFault(f"Unknown fault(s): {', '.join(sorted(unknown))}; known: {', '.join(FAULTS)}.")
    return tuple(name for name in FAULTS if name in wanted)


@dataclasses.dataclass
class _RunPlan:
    upstream_faults: list[str]  # still to come, one per attempt
    stream_cuts_left: int


class Chaos:
    """The switch and each run's plan of faults. One per service; not thread-safe (event loop)."""

    def __init__(self, enabled: bool = False, faults: Iterable[str] = FAULTS, rng: random.Random | None = None) -> None:
        self.enabled = enabled
        self.faults = check_faults(faults)
        self._rng = rng or random.Random()
        self._plans: collections.OrderedDict[str, _RunPlan] = collections.OrderedDict()

    def configure(self, enabled: bool, faults: Iterable[str] | None = None) -> None:
        if faults is not None:
            self.faults = check_faults(faults)
        self.enabled = enabled

    def view(self) -> dict:
        return {"enabled": self.enabled, "faults": list(self.faults), "available": list(FAULTS)}

    def provider_for(self, run_id: str, provider: Provider) -> Provider:
        """The provider for a run's next attempt: ``provider`` itself, or one that fails."""
        if not self.enabled:
            return provider
        plan = self._plan(run_id)
        if not plan.upstream_faults:
            return provider
        return FaultyProvider(provider, plan.upstream_faults.pop(0), self._rng.randint(*WORDS_BEFORE_TROUBLE))

    def stream_cut_after(self, run_id: str) -> int | None:
        """For an event-stream connection opening now: after how many events to cut it, or None."""
        if not self.enabled or "stream_cut" not in self.faults:
            return None
        plan = self._plan(run_id)
        if plan.stream_cuts_left <= 0:
            return None
        plan.stream_cuts_left -= 1
        return self._rng.randint(*EVENTS_BEFORE_CUT)

    def _plan(self, run_id: str) -> _RunPlan:
        plan = self._plans.get(run_id)
        if plan is None:
            kinds = [f for f in self.faults if f in UPSTREAM_FAULTS]
            count = self._rng.randint(1, MAX_UPSTREAM_FAULTS_PER_RUN) if kinds else 0
            plan = self._plans[run_id] = _RunPlan([self._rng.choice(kinds) for _ in range(count)],
                                                  MAX_STREAM_CUTS_PER_RUN)
            while len(self._plans) > REMEMBERED_RUNS:
                self._plans.popitem(last=False)
        return plan


class FaultyProvider(WrappedProvider):
    """A provider whose next stream fails with ``fault`` (after ``words`` deltas, for a drop
    or a stall); otherwise it is the wrapped provider."""

    def __init__(self, inner: Provider, fault: str, words: int) -> None:
        super().__init__(inner)
        self.fault, self.words = fault, words

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamItem]:
        said = f"{self.name} (chaos mode)"
        if self.fault == "rate_limit":
            raise RateLimited(f"{said} is rate-limiting requests (HTTP 429)", provider=self.name, status=429,
                              retry_after_s=RATE_LIMIT_RETRY_AFTER_S)
        if self.fault == "overload":
            raise Overloaded(f"{said} is overloaded (HTTP 503)", provider=self.name, status=503)
        shown = 0
        async for item in self.inner.stream(request):
            if shown == self.words and isinstance(item, TextDelta):
                if self.fault == "upstream_drop":
                    raise TransportError(f"{said} dropped the connection mid-answer", provider=self.name)
                await asyncio.Event().wait()  # upstream_stall: silence, until the idle timeout ends the attempt
            shown += isinstance(item, TextDelta)
            yield item
