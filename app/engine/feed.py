"""One run's live feed: the committed events, shared by all of the run's subscribers.

A single buffer per run (not a queue per subscriber): each subscriber keeps only its own
resume point and reads ``events_after(seq)``. Waiting uses a generation event that is
replaced at each publish, so a subscriber that checks ``last_seq`` and then waits can never
miss a publish in between.
"""

from __future__ import annotations

import asyncio
import bisect

from app.engine.events import LogEvent

# Events kept in memory per run; an older resume point is served from the database.
FEED_MEMORY_EVENTS = 4096


class RunFeed:
    def __init__(self, run_id: str, last_seq: int) -> None:
        self.run_id = run_id
        self.last_seq = last_seq
        self.closed = False
        self.from_database_only = False  # a remote feed whose subscription failed (fanout.py)
        self._events: list[LogEvent] = []
        self._seqs: list[int] = []
        self._changed = asyncio.Event()

    def publish(self, events: list[LogEvent]) -> None:
        self._events.extend(events)
        self._seqs.extend(e.seq for e in events)
        if len(self._events) > FEED_MEMORY_EVENTS:
            drop = len(self._events) - FEED_MEMORY_EVENTS
            del self._events[:drop], self._seqs[:drop]
        self.last_seq = events[-1].seq
        self._notify()

    def publish_remote(self, events: list[LogEvent]) -> None:
        """Events another worker committed (fanout.py): what is known already is dropped, a
        gap makes the feed forget what it holds (readers then read from the database), and
        an ``end`` closes the feed until a continuation's events open it again."""
        events = [e for e in events if e.seq > self.last_seq]
        if not events:
            return
        if self._seqs and events[0].seq != self._seqs[-1] + 1:
            self.forget()
        self.closed = False
        self.publish(events)
        if events[-1].kind == "end":
            self.close()

    def forget(self) -> None:
        """Drop the events held: a reader behind ``last_seq`` reads them from the database."""
        self._events, self._seqs = [], []

    def close(self) -> None:
        self.closed = True
        self._notify()

    def events_after(self, seq: int) -> list[LogEvent] | None:
        """Events with a seq above ``seq``; None when memory no longer reaches back that far."""
        if seq >= self.last_seq:
            return []
        if not self._seqs or self._seqs[0] > seq + 1:
            return None
        return self._events[bisect.bisect_right(self._seqs, seq):]

    async def wait_beyond(self, seq: int, timeout_s: float) -> bool:
        """Wait until an event past ``seq`` is published or the feed closes; False on timeout."""
        changed = self._changed
        if self.last_seq > seq or self.closed:
            return True
        try:
            # asyncio.timeout, not wait_for: no task per wait (a wait per subscriber per commit).
            async with asyncio.timeout(timeout_s):
                await changed.wait()
        except TimeoutError:
            return False
        return True

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()
