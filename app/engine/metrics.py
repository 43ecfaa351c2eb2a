"""The Prometheus metrics of one ``ChatService``, on a registry of its own.

Each service gets its own ``CollectorRegistry`` (never the process-wide default), so several
services in one process — the tests run many — count separately. Names start with
``unbroken_`` and carry their unit (``_seconds``, ``_bytes``, ``_total``). Labels have few
values: a provider name, a run state, an attempt outcome, an HTTP status.

What changes on its own with time — a circuit breaker going half-open when its cooldown ends,
the length of a provider's queue — is read when Prometheus scrapes (``watch_gate``), not
pushed on change, so a scrape never shows a stale state.

``render`` gives the text exposition format for ``GET /metrics``.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from app.engine.gate import BreakerState, CircuitBreaker, SlotQueue

# Gauge values of unbroken_circuit_breaker_state, ordered by severity so max() is the worst.
BREAKER_STATE_VALUES = {BreakerState.CLOSED: 0, BreakerState.HALF_OPEN: 1, BreakerState.OPEN: 2}
NO_STATUS = "none"  # the status label of an attempt that got no HTTP error status

TTFT_BUCKETS_S = (0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 7.5, 10.0, 15.0, 20.0, 30.0, 60.0, 120.0)
TOKENS_PER_S_BUCKETS = (1, 2, 5, 10, 20, 30, 50, 75, 100, 150, 200, 300, 500, 1000)
COMMIT_EVENTS_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)
COMMIT_SECONDS_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


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
        self.streams_open = Gauge("unbroken_sse_streams_open", "Event-stream connections open now", **on)
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
        self._gates = _GateCollector()
        self.registry.register(self._gates)

    def watch_gate(self, provider: str, breaker: CircuitBreaker, slots: SlotQueue) -> None:
        """Export a provider's breaker state and queue, read at every scrape."""
        self._gates.gates[provider] = (breaker, slots)

    def render(self) -> tuple[bytes, str]:
        """The text exposition format and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


def status_label(status: int | None) -> str:
    return str(status) if status is not None else NO_STATUS


class _GateCollector(Collector):
    def __init__(self) -> None:
        self.gates: dict[str, tuple[CircuitBreaker, SlotQueue]] = {}

    def collect(self) -> Iterator[GaugeMetricFamily]:
        breaker_state = GaugeMetricFamily(
            "unbroken_circuit_breaker_state", "Circuit breaker per provider: 0 closed, 1 half-open (one probe may "
            "go), 2 open (new attempts wait)", labels=["provider"])
        queued = GaugeMetricFamily(
            "unbroken_upstream_queue_length", "Attempts waiting for a free provider slot", labels=["provider"])
        active = GaugeMetricFamily(
            "unbroken_upstream_active_streams", "Attempts holding a provider slot (streaming or connecting)",
            labels=["provider"])
        for provider, (breaker, slots) in sorted(self.gates.items()):
            breaker_state.add_metric([provider], BREAKER_STATE_VALUES[breaker.state])
            queued.add_metric([provider], slots.queued)
            active.add_metric([provider], slots.active)
        yield from (breaker_state, queued, active)
