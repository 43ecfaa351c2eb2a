"""What operators see of the engine: one call per fact, counted in the Prometheus metrics
(``metrics.Metrics``) and written as a lifecycle log line (``lifecycle_log``).

The runner, the event log and the event-stream endpoint call ``Telemetry`` and know neither
Prometheus nor logging. Nothing here waits or fails a run: these are notes about the work,
never part of it.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from app.engine.attempts import Attempt
from app.engine.events import End
from app.engine.gate import CircuitBreaker, SlotQueue
from app.engine.lifecycle_log import LifecycleLog
from app.engine.metrics import Metrics, status_label
from app.engine.states import RunState
from app.engine.rows import RunRow

Trace = Callable[[str, dict], None]  # (kind, data) → the run's server-side trace


class Telemetry:
    def __init__(self, metrics: Metrics | None = None, log: LifecycleLog | None = None) -> None:
        self.metrics = metrics or Metrics()
        self.log = log or LifecycleLog()

    # -- runs --------------------------------------------------------------------------------

    def run_created(self, run: RunRow, content: str | None = None, retry_of: str | None = None) -> None:
        self.log.event("run_created", run.id, run.user_id, conversation_id=run.conversation_id, provider=run.provider,
                       model=run.model, max_tokens=run.max_tokens, retry_of=retry_of,
                       **self.log.text("content", content))

    def drive_started(self, run: RunRow) -> None:
        """A run is driven (started, continued or recovered): its lines name its user until it ends."""
        self.log.own(run.id, run.user_id)

    def run_state(self, run_id: str, old: RunState, new: RunState, attempt: int | None) -> None:
        """A change between states (repeats of one state, such as a new queue position, are not changes)."""
        self.log.event("run_state", run_id, **{"from": str(old), "to": str(new)}, attempt=attempt)

    def run_ended(self, run_id: str, provider: str, old: RunState, end: End, text: str, attempts: int) -> None:
        self.metrics.runs.labels(provider, str(end.state)).inc()
        self.log.event("run_end", run_id, **{"from": str(old), "to": str(end.state)}, provider=provider,
                       finish_reason=end.finish_reason, error=end.error, detail=end.detail, attempts=attempts,
                       chars=len(text), **self.log.text("text", text))
        self.log.disown(run_id)

    def first_text(self, provider: str, after_s: float) -> None:
        """The answer's first text, ``after_s`` after the request that started it."""
        self.metrics.time_to_first_token.labels(provider).observe(after_s)

    # -- upstream attempts -------------------------------------------------------------------

    def attempt_started(self, run_id: str, provider: str, model: str, attempt: Attempt, requested: bool) -> None:
        """``requested``: the first attempt of a Continue (or of a continuation after a restart)."""
        continued_from = attempt.record.get("continued_from_chars")
        if continued_from:
            trigger = "on_request" if requested else "after_failure"
            self.metrics.continuations.labels(provider, trigger).inc()
        self.log.event("attempt_start", run_id, attempt=attempt.number, provider=provider, model=model,
                       continued_from_chars=continued_from)

    def attempt_ended(self, run_id: str, provider: str, attempt: Attempt) -> None:
        """Call once its record holds its outcome, and ``wait_s`` when another attempt follows."""
        record = attempt.record
        outcome, wait_s = record.get("outcome"), record.get("wait_s")
        self.metrics.attempts.labels(provider, outcome, status_label(record.get("status"))).inc()
        if wait_s is not None:
            self.metrics.retries.labels(provider, outcome).inc()
        rate = attempt.tokens_per_s
        if rate is not None:
            self.metrics.tokens_per_second.labels(provider).observe(rate)
        self.log.event("attempt_end", run_id, attempt=attempt.number, provider=provider, outcome=outcome,
                       status=record.get("status"), wait_s=wait_s, text_deltas=attempt.text_deltas,
                       error=record.get("error"))

    def watch_gate(self, provider: str, breaker: CircuitBreaker, slots: SlotQueue) -> None:
        self.metrics.watch_gate(provider, breaker, slots)

    # -- the event log -----------------------------------------------------------------------

    def log_committed(self, events: int, seconds: float) -> None:
        self.metrics.commit_events.observe(events)
        self.metrics.commit_seconds.observe(seconds)

    def log_commit_failed(self) -> None:
        self.metrics.commit_failures.inc()

    # -- event streams -----------------------------------------------------------------------

    def stream_opened(self, run_id: str, user_id: str, after_seq: int, client: str | None,
                      trace: Trace) -> StreamWatch:
        return StreamWatch(self, run_id, user_id, after_seq, client, trace)


class StreamWatch:
    """One event-stream connection from open to close, and the one place that notes it: in the
    run's traces (its timeline), the metrics and the lifecycle log. ``closed`` counts once."""

    def __init__(self, telemetry: Telemetry, run_id: str, user_id: str, after_seq: int, client: str | None,
                 trace: Trace) -> None:
        self._telemetry, self._metrics, self._trace = telemetry, telemetry.metrics, trace
        self.run_id, self.user_id = run_id, user_id
        self.events = self.bytes = 0
        self._opened_s = time.monotonic()
        self._closed = False
        trace("stream_open", {"after_seq": after_seq})
        self._metrics.streams_opened.inc()
        if after_seq > 0:
            self._metrics.streams_resumed.inc()
        self._metrics.streams_open.inc()
        telemetry.log.event("stream_open", run_id, user_id, after_seq=after_seq, client=client)

    def sent(self, chunk_bytes: int, events: int = 0) -> None:
        self.bytes += chunk_bytes
        self.events += events
        self._metrics.sent_bytes.inc(chunk_bytes)

    def closed(self, closed_by: str) -> None:
        """``closed_by``: "client" (it went away), "server" (after the end) or another reason."""
        if self._closed:
            return
        self._closed = True
        self._trace("stream_close", {"closed_by": closed_by, "events": self.events, "bytes": self.bytes})
        self._metrics.streams_open.dec()
        self._metrics.streams_closed.labels(closed_by).inc()
        duration_ms = round((time.monotonic() - self._opened_s) * 1000)
        self._telemetry.log.event("stream_close", self.run_id, self.user_id, closed_by=closed_by, events=self.events,
                                  bytes=self.bytes, duration_ms=duration_ms)
