"""The run event log: batched append, replay after a seq, live tail.

Invariant: **persist first, then publish** — a subscriber never sees an event that is not
committed, so a client is never ahead of the database.

- ``append`` is synchronous and cheap: it queues the event in memory (a delta is merged into
  a trailing delta of the same run) and wakes the writer.
- The writer assigns seqs and commits everything queued for all runs in one transaction,
  at most once per ``flush_interval_s`` while busy and at once after a quiet spell, then
  publishes the committed events to each run's ``RunFeed``. One thing does not wait for the
  interval: the first text of a producer (time to first token is what people notice), so
  at most one extra commit per run start.
- ``follow`` replays from the database after a resume point and then tails the feed; the
  SSE endpoint and any other reader use it. A run answered by another worker is tailed
  through ``remote`` (fanout.py, with ``REDIS_URL``).
- The writer only commits events of runs its worker still owns (leases.py); runs another
  worker took over are dropped here and reported to ``on_lost``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import math
import time
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING

from app.engine.events import Delta, End, LogEvent, PendingEvent, Status
from app.engine.feed import RunFeed
from app.engine.leases import held
from app.engine.rows import RunUpdate
from app.engine.store import Store
from app.engine.telemetry import Telemetry

if TYPE_CHECKING:
    from app.engine.fanout import RedisFanOut

logger = logging.getLogger(__name__)

WRITE_RETRY_S = 0.5
# A replay from the database is read in pages: a short first one, so that a resume in a long
# answer shows its first event as soon as a fresh stream would, then longer ones.
REPLAY_FIRST_PAGE_EVENTS = 256
REPLAY_PAGE_EVENTS = 4096
# A reader of another worker's run without Redis (its subscription failed) looks at the
# database this often.
DATABASE_ONLY_CHECK_S = 1.0


@dataclasses.dataclass
class _RunBuffer:
    """What one run has queued since the last commit; deltas are kept as parts and joined once."""

    last_seq: int
    feed: RunFeed
    pending: list[PendingEvent | list[str]] = dataclasses.field(default_factory=list)
    # Answer text so far, as parts; joined once when an end event needs the final text.
    text_parts: list[str] = dataclasses.field(default_factory=list)
    attempts: list[dict] | None = None
    text_started: bool = False  # a delta was appended since ``open``
    hold: bool = False  # keep the run's lease at its end: it is continued right away


class EventLog:
    def __init__(self, store: Store, flush_interval_s: float, telemetry: Telemetry | None = None,
                 remote: RedisFanOut | None = None) -> None:
        self._store = store
        self._remote = remote
        self.on_lost: Callable[[set[str]], None] | None = None  # runs another worker took over
        self._flush_interval_s = flush_interval_s
        self._telemetry = telemetry or Telemetry()
        self._runs: dict[str, _RunBuffer] = {}
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._first_text = asyncio.Event()  # a run's first delta waits for no interval
        self._unwritten: list[tuple[str, LogEvent]] = []
        self._unwritten_updates: dict[str, RunUpdate] = {}

    # -- producing -------------------------------------------------------------------------

    def open(self, run_id: str, last_seq: int, text_so_far: str = "", hold: bool = False) -> RunFeed:
        """Start producing for a run (its runner calls this once); returns its live feed.
        ``hold``: the run's lease outlives its next end (a continuation follows at once)."""
        if run_id in self._runs:
            raise RuntimeError(f"run {run_id} already has a producer")
        feed = RunFeed(run_id, last_seq)
        self._runs[run_id] = _RunBuffer(last_seq=last_seq, feed=feed, text_parts=[text_so_far], hold=hold)
        return feed

    def drop(self, run_id: str) -> None:
        """Another worker answers the run now: forget what is queued, end the feed."""
        buffer = self._runs.pop(run_id, None)
        if buffer is not None:
            buffer.feed.close()

    def append(self, run_id: str, event: PendingEvent) -> None:
        buffer = self._runs[run_id]
        if isinstance(event, Delta):
            if not buffer.text_started:
                buffer.text_started = True
                self._first_text.set()
            buffer.text_parts.append(event.text)
            if buffer.pending and isinstance(buffer.pending[-1], list):
                buffer.pending[-1].append(event.text)
            else:
                buffer.pending.append([event.text])
        else:
            buffer.pending.append(event)
        self._idle.clear()
        self._wake.set()

    def set_attempts(self, run_id: str, attempts: list[dict]) -> None:
        """Record the run's attempts; written with its next commit."""
        self._runs[run_id].attempts = [dict(a) for a in attempts]
        self._idle.clear()
        self._wake.set()

    def close_feeds(self) -> None:
        """Shutting down: end every live feed, so open streams close and their clients
        reconnect (to the next process, which resumes from the database)."""
        for buffer in self._runs.values():
            buffer.feed.close()

    def feed(self, run_id: str) -> RunFeed | None:
        buffer = self._runs.get(run_id)
        return buffer.feed if buffer else None

    async def durable(self) -> None:
        """Wait until everything appended so far is committed and published."""
        await self._idle.wait()

    # -- the writer ------------------------------------------------------------------------

    async def run_writer(self) -> None:
        """The single writer loop; runs until cancelled (flush once more before cancelling)."""
        loop = asyncio.get_running_loop()
        while True:
            await self._wake.wait()
            started = loop.time()
            self._first_text.clear()
            await self.flush()
            # Rate-limit commits while busy; a quiet log flushes the next event at once, and
            # a run's first text cuts the wait short.
            pause_s = self._flush_interval_s - (loop.time() - started)
            if pause_s > 0 and not self._first_text.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._first_text.wait(), pause_s)

    async def flush(self) -> None:
        self._wake.clear()
        self._take_pending()
        if not self._unwritten and not self._unwritten_updates:
            self._idle.set()
            return
        events, updates = self._unwritten, self._unwritten_updates
        started_s = time.perf_counter()
        try:
            lost = await asyncio.to_thread(self._store.write_batch, events, updates)
        except Exception:
            self._telemetry.log_commit_failed()
            logger.exception("event log commit failed; retrying in %.1f s", WRITE_RETRY_S)
            await asyncio.sleep(WRITE_RETRY_S)
            self._wake.set()
            return
        self._telemetry.log_committed(len(events), time.perf_counter() - started_s)
        self._unwritten, self._unwritten_updates = [], {}
        if lost:
            events = [(run_id, event) for run_id, event in events if run_id not in lost]
            for run_id in lost:
                self.drop(run_id)
            logger.warning("run(s) %s were taken over by another worker; their events here are dropped",
                           ", ".join(sorted(lost)))
            if self.on_lost is not None:
                self.on_lost(lost)
        self._publish(events)
        if not self._wake.is_set():
            self._idle.set()

    def _take_pending(self) -> None:
        """Give queued events their seqs and fold them into the batch waiting to be written."""
        for run_id, buffer in list(self._runs.items()):
            if not buffer.pending and buffer.attempts is None:
                continue
            update = self._unwritten_updates.setdefault(run_id, RunUpdate(last_seq=buffer.last_seq))
            for item in buffer.pending:
                event = Delta("".join(item)) if isinstance(item, list) else item
                buffer.last_seq += 1
                self._unwritten.append((run_id, event.to_event(buffer.last_seq)))
                update.last_seq = buffer.last_seq
                if isinstance(event, (Status, End)):
                    update.state, update.detail = event.state, event.detail
                if isinstance(event, End):
                    update.finish_reason, update.error = event.finish_reason, event.error
                    update.tokens = event.tokens
                    update.final_text = "".join(buffer.text_parts)
                    update.release = None if buffer.hold else True
            if buffer.attempts is not None:
                update.attempts = buffer.attempts
            buffer.pending, buffer.attempts = [], None

    def _publish(self, events: list[tuple[str, LogEvent]]) -> None:
        by_run: dict[str, list[LogEvent]] = {}
        for run_id, event in events:
            by_run.setdefault(run_id, []).append(event)
        for run_id, run_events in by_run.items():
            buffer = self._runs.get(run_id)
            if buffer is None:
                continue
            buffer.feed.publish(run_events)
            if run_events[-1].kind == "end" and not buffer.pending:
                # The producer is done; readers that hold the feed finish from it.
                buffer.feed.close()
                del self._runs[run_id]
        if self._remote is not None and by_run:  # other workers' readers, after this one's
            self._remote.post(by_run)

    # -- reading ---------------------------------------------------------------------------

    async def follow(self, run_id: str, after: int, tick_s: float) -> AsyncIterator[list[LogEvent]]:
        """Events after ``after``, replayed then live, and ``[]`` every ``tick_s`` (for heartbeats).

        The database part comes in pages: a short first one (a resume shows its first event
        without waiting for the whole rest of a long answer), then longer ones. Ends after an
        ``end`` event that is the run's last, or when nobody answers the run (its state then
        comes from the database). A run another worker answers is tailed through Redis.
        """
        feed = self.feed(run_id)  # taken before the replay, so nothing falls between the two
        if feed is None and self._remote is not None:
            run = await asyncio.to_thread(self._store.get_run, run_id)
            if run is not None and held(run):
                async with self._remote.watch(run_id) as remote:  # subscribed before the replay
                    async for batch in self._follow(run_id, after, tick_s, remote, remote=True):
                        yield batch
                return
        async for batch in self._follow(run_id, after, tick_s, feed):
            yield batch

    async def _follow(self, run_id: str, after: int, tick_s: float, feed: RunFeed | None,
                      remote: bool = False) -> AsyncIterator[list[LogEvent]]:
        loop = asyncio.get_running_loop()
        page = REPLAY_FIRST_PAGE_EVENTS
        batch = await asyncio.to_thread(self._store.events_after, run_id, after, page)
        next_tick = loop.time() + tick_s
        # A remote feed: when to look at the database next (at once, the first time).
        next_check = 0.0 if remote else math.inf
        while True:
            if batch:
                yield batch
                after = batch[-1].seq
            if loop.time() >= next_tick:
                yield []
                next_tick = loop.time() + tick_s
            if page and len(batch) == page:  # a full page: the database may hold more
                page = REPLAY_PAGE_EVENTS
                batch = await asyncio.to_thread(self._store.events_after, run_id, after, page)
                continue
            page = 0
            # An end is final only while it is the run's last event and no producer goes on.
            if feed is None or (batch and batch[-1].kind == "end" and feed.closed and feed.last_seq <= after):
                return
            batch = feed.events_after(after)
            if batch is None:  # fell behind the feed's memory: read the gap from the database
                batch = await asyncio.to_thread(self._store.events_after, run_id, after)
            if not batch:
                if feed.closed:
                    return
                if remote and loop.time() >= next_check:
                    # What Redis did not bring (a lost message, an end published before the
                    # subscription) is in the database.
                    next_check = loop.time() + (min(tick_s, DATABASE_ONLY_CHECK_S) if feed.from_database_only
                                                else tick_s)
                    batch, settled = await asyncio.to_thread(self._database_after, run_id, after)
                    if settled:
                        return
                    if batch:
                        continue
                await feed.wait_beyond(after, max(0.0, min(next_tick, next_check) - loop.time()))

    def _database_after(self, run_id: str, after: int) -> tuple[list[LogEvent], bool]:
        """Events after ``after`` in the database, and whether the run is settled there: ended
        with nothing after ``after`` and answered by nobody."""
        run = self._store.get_run(run_id)
        if run is None:
            return [], True
        events = self._store.events_after(run_id, after)
        return events, not events and run.state.is_terminal and not held(run)
