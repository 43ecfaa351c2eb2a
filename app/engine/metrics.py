"""The Prometheus metrics of one ``ChatService``, on a registry of its own.

Each service gets its own ``CollectorRegistry`` (never the process-wide default), so several
services in one process — the tests run many — count separately. Names start with
``unbroken_`` and carry their unit (``_seconds``, ``_bytes``, ``_total``). Labels have few
values: a provider name, a run state, an attempt outcome, an HTTP status.

What changes on its own with time — a circuit breaker going half-open when its cooldown ends,
the length of a provider's queue — is read from the gates (``watch_gate``) when Prometheus
scrapes, not pushed on change, so a scrape never shows a stale state.

Several workers of one deployment (``PROMETHEUS_MULTIPROC_DIR`` set before the process
starts: ``scripts/run`` sets it when ``REDIS_URL`` is) keep their metrics in files of that
folder, prometheus_client's multiprocess mode, and any worker's ``/metrics`` reads them all:
counters and histograms add up (a dead worker's counts stay), gauges of live workers add up
(the breaker state: the worst one). A scrape reaches one worker, so the others write their
gates' state every ``SHARED_REFRESH_S`` (``keep_shared``), and forget the gauges of workers
that died without saying so.

``render`` gives the text exposition format for ``GET /metrics``.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import multiprocess

from app.engine.gate import BreakerState, CircuitBreaker, SlotQueue

# Gauge values of unbroken_circuit_breaker_state, ordered by severity so max() is the worst.
BREAKER_STATE_VALUES = {BreakerState.CLOSED: 0, BreakerState.HALF_OPEN: 1, BreakerState.OPEN: 2}
NO_STATUS = "none"  # the status label of an attempt that got no HTTP error status

TTFT_BUCKETS_S = (0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 7.5, 10.0, 15.0, 20.0, 30.0, 60.0, 120.0)
TOKENS_PER_S_BUCKETS = (1, 2, 5, 10, 20, 30, 50, 75, 100, 150, 200, 300, 500, 1000)
COMMIT_EVENTS_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)
COMMIT_SECONDS_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
SHARED_FOLDER_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"  # prometheus_client's own name for it
SHARED_REFRESH_S = 1.0


def shared_folder() -> Path | None:
    """Where the workers of one deployment keep their metrics, or None: this process's own."""
    folder = os.environ.get(SHARED_FOLDER_VARIABLE)
    return Path(folder) if folder else None


class Metrics:
    """Every metric Unbroken exports; the observing code calls the objects directly."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        on = {"registry": self.registry}
        # Runs and their upstream attempts.
        self.runs = Counter(
            "unbroken_runs_total", "Answers that reached a final state (an answer continued later counts again "
            "when it ends again)", ["provider", "state"], **on)
        self.attempts = Counter(
            "unbroken_upstream_attempts_total", "Upstream attempts by how they ended: outcome is ok or the error's "
            "cause (rate_limited, transport, …), status the HTTP status of a refused request or none",
            ["provider", "outcome", "status"], **on)
        self.retries = Counter(
            "unbroken_retries_total", "Failed attempts followed by another attempt after a wait, by cause",
            ["provider", "cause"], **on)
        self.continuations = Counter(
            "unbroken_continuations_total", "Attempts that ask the model to go on from a partial answer: "
            "after_failure (the stream broke mid-answer) or on_request (Continue, or after a restart)",
            ["provider", "trigger"], **on)
        self.time_to_first_token = Histogram(
            "unbroken_time_to_first_token_seconds", "From the request that starts an answer (new, retried or "
            "continued) to its first text, waits between attempts included", ["provider"],
            buckets=TTFT_BUCKETS_S, **on)
        self.tokens_per_second = Histogram(
            "unbroken_stream_tokens_per_second", "Per attempt with at least two text deltas: deltas after the "
            "first divided by the time from the first to the last (a provider delta is about one token)",
            ["provider"], buckets=TOKENS_PER_S_BUCKETS, **on)
        # Event streams to browsers.
        self.streams_open = Gauge("unbroken_sse_streams_open", "Event-stream connections open now",
                                  multiprocess_mode="livesum", **on)
        self.streams_opened = Counter("unbroken_sse_streams_opened_total", "Event-stream connections opened", **on)
        self.streams_resumed = Counter(
            "unbroken_sse_streams_resumed_total", "Event-stream connections opened with a resume point "
            "(Last-Event-ID or ?after= above 0): reconnects", **on)
        self.streams_closed = Counter(
            "unbroken_sse_streams_closed_total", "Event-stream connections closed, by who closed them",
            ["closed_by"], **on)
        self.sent_bytes = Counter("unbroken_sse_sent_bytes_total", "Bytes written to event streams", **on)
        # The event log's writer.
        self.commit_events = Histogram(
            "unbroken_log_commit_events", "Events written per event-log commit (one commit holds every run's)",
            buckets=COMMIT_EVENTS_BUCKETS, **on)
        self.commit_seconds = Histogram(
            "unbroken_log_commit_seconds", "Time to write one event-log commit", buckets=COMMIT_SECONDS_BUCKETS, **on)
        self.commit_failures = Counter(
            "unbroken_log_commit_failures_total", "Event-log commits that failed (and were tried again)", **on)
        # Each provider's gate, read from it at every scrape (``_read_gates``).
        self.breaker_state = Gauge(
            "unbroken_circuit_breaker_state", "Circuit breaker per provider: 0 closed, 1 half-open (one probe may "
            "go), 2 open (new attempts wait)", ["provider"], multiprocess_mode="livemax", **on)
        self.queued = Gauge(
            "unbroken_upstream_queue_length", "Attempts waiting for a free provider slot", ["provider"],
            multiprocess_mode="livesum", **on)
        self.active = Gauge(
            "unbroken_upstream_active_streams", "Attempts holding a provider slot (streaming or connecting)",
            ["provider"], multiprocess_mode="livesum", **on)
        self._gates: dict[str, tuple[CircuitBreaker, SlotQueue]] = {}

    def watch_gate(self, provider: str, breaker: CircuitBreaker, slots: SlotQueue) -> None:
        """Export a provider's breaker state and queue, read at every scrape."""
        self._gates[provider] = (breaker, slots)
        self._read_gates()

    def render(self) -> tuple[bytes, str]:
        """The text exposition format and its content type: every worker's metrics when they
        are shared, else this service's."""
        self._read_gates()
        folder = shared_folder()
        if folder is None:
            return generate_latest(self.registry), CONTENT_TYPE_LATEST
        everyone = CollectorRegistry()
        multiprocess.MultiProcessCollector(everyone, str(folder))
        return generate_latest(everyone), CONTENT_TYPE_LATEST

    async def keep_shared(self, folder: Path) -> None:
        """While this worker runs (a task): write its gates' state for the scrapes other
        workers answer, and forget the live gauges of workers gone without a word (``kill
        -9``); when cancelled, take this worker's own out."""
        try:
            while True:
                self._read_gates()
                forget_dead_workers(folder)
                await asyncio.sleep(SHARED_REFRESH_S)
        finally:
            multiprocess.mark_process_dead(os.getpid(), str(folder))

    def _read_gates(self) -> None:
        for provider, (breaker, slots) in self._gates.items():
            self.breaker_state.labels(provider).set(BREAKER_STATE_VALUES[breaker.state])
            self.queued.labels(provider).set(slots.queued)
            self.active.labels(provider).set(slots.active)


def status_label(status: int | None) -> str:
    return str(status) if status is not None else NO_STATUS


def forget_dead_workers(folder: Path) -> None:
    """Remove the live gauges (``gauge_live…_<pid>.db``) of processes that are gone."""
    for file in folder.glob("gauge_live*_*.db"):
        pid = file.stem.rsplit("_", 1)[1]
        if pid.isdigit() and not _alive(int(pid)):
            multiprocess.mark_process_dead(int(pid), str(folder))


def _alive(pid: int) -> bool:
    """A process that runs (a zombie, dead but not yet reaped by its parent, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):  # no /proc: what kill said
        return True
