"""What happened around a run besides its events: event-stream connections the server saw
and connection trouble browsers report, stored as the run's traces; read back as its
timeline and its support report (``timeline``).

Callers pass a run they already checked is the actor's (``ChatService.get_run``). Server
traces are written in the background, best effort, never in the way of delivery.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from app.engine.models import utcnow
from app.engine.run_input import InputError
from app.engine.rows import RunRow
from app.engine.store import Store
from app.engine.telemetry import StreamWatch, Telemetry
from app.engine.timeline import (
    MAX_BROWSER_TRACES_PER_RUN, BadClientEvents, check_browser_events, support_report, timeline,
)

logger = logging.getLogger(__name__)


class RunRecords:
    def __init__(self, store: Store, telemetry: Telemetry, provider_label: Callable[[str], str],
                 secrets: Callable[[], tuple[str, ...]]) -> None:
        """``provider_label``: a provider's name → how the report names it; ``secrets``: the
        keys to mask in reports, as they are now."""
        self._store, self._telemetry = store, telemetry
        self._provider_label, self._secrets = provider_label, secrets
        self._writes: set[asyncio.Task] = set()

    def trace(self, run_id: str, kind: str, data: dict) -> None:
        """Note a server-side fact about a run without waiting."""
        task = asyncio.create_task(asyncio.to_thread(
            self._store.add_traces, run_id, "server", [(utcnow(), kind, data)]
        ))
        self._writes.add(task)
        task.add_done_callback(self._written)

    def watch_stream(self, run: RunRow, after_seq: int, client: str | None) -> StreamWatch:
        """An event stream opens: noted in the run's traces, the metrics and the lifecycle log
        now, and again when the caller reports it ``closed``."""
        return self._telemetry.stream_opened(run.id, run.user_id, after_seq, client,
                                             lambda kind, data: self.trace(run.id, kind, data))

    async def record_browser_events(self, run: RunRow, report: dict) -> int:
        """Store what a browser reports about its connection to a run (``timeline.check_browser_events``);
        returns how many were kept (a run keeps at most MAX_BROWSER_TRACES_PER_RUN of them)."""
        try:
            checked = check_browser_events(report, received_at=utcnow())
        except BadClientEvents as exc:
            raise InputError("bad_events", str(exc)) from None
        return await asyncio.to_thread(
            self._store.add_traces, run.id, "browser", checked, MAX_BROWSER_TRACES_PER_RUN
        )

    async def timeline(self, run: RunRow) -> list[dict]:
        return timeline(run, await asyncio.to_thread(self._store.traces, run.id))

    async def report(self, run: RunRow) -> dict:
        traces = await asyncio.to_thread(self._store.traces, run.id)
        return support_report(run, traces, self._provider_label(run.provider), self._secrets())

    async def close(self) -> None:
        """Wait for the trace writes still under way."""
        await asyncio.gather(*self._writes, return_exceptions=True)

    def _written(self, task: asyncio.Task) -> None:
        self._writes.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.warning("could not store a run trace: %s", task.exception())
