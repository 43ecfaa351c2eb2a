"""What happened to one answer, in order: its timeline and its support report.

The timeline merges three sources: the run's upstream attempts (kept on the run row), the
event-stream connections the server saw, and the connection trouble browsers reported
(both kept as run traces). The support report wraps it with the request's parameters and
the app version; it holds no message text, and every string in it passes through secret
redaction, so it can be pasted into a ticket as it is.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from app import __version__
from app.engine.errors import redact
from app.engine.rows import RunRow

# What a browser may report about its connection to a run's event stream.
BROWSER_EVENT_KINDS = frozenset({"connected", "reconnect", "offline", "online", "gap", "fallback"})
BROWSER_EVENT_FIELDS = {"after_seq": int, "attempt": int, "delay_ms": int, "expected_seq": int, "got_seq": int,
                        "online": bool, "cause": str, "detail": str}
MAX_BROWSER_EVENTS_PER_REPORT = 50
MAX_BROWSER_TRACES_PER_RUN = 500
MAX_DETAIL_CHARS = 300

Trace = tuple[datetime, str, str, dict]


class BadClientEvents(ValueError):
    pass


def check_browser_events(report: dict, received_at: datetime) -> list[tuple[datetime, str, dict]]:
    """A browser's report ``{"events": [...], "sent_at": ms}`` → ``(at, kind, data)``, or
    ``BadClientEvents`` saying what is wrong.

    Each event's time is the browser's (``at``, epoch ms, also kept as ``data["client_at"]``)
    moved onto the server's clock: the offset between the two is ``received_at - sent_at``
    (the clock difference plus one trip over the network), so the browser's events sort among
    the server's even when its clock is off. Without those times, an event is stamped when the
    report arrived."""
    events = report.get("events")
    if not isinstance(events, list) or not 1 <= len(events) <= MAX_BROWSER_EVENTS_PER_REPORT:
        raise BadClientEvents(f"events must be a list of 1 to {MAX_BROWSER_EVENTS_PER_REPORT} objects.")
    sent_at = _epoch_ms(report.get("sent_at"))
    checked = []
    for event in events:
        if not isinstance(event, dict) or event.get("kind") not in BROWSER_EVENT_KINDS:
            raise BadClientEvents(f"Each event needs a kind, one of: {', '.join(sorted(BROWSER_EVENT_KINDS))}.")
        data, at = {}, received_at
        client_at = _epoch_ms(event.get("at"))
        if client_at is not None:
            data["client_at"] = client_at
            if sent_at is not None and client_at <= sent_at:
                at = received_at - timedelta(milliseconds=sent_at - client_at)
        for name, kind in BROWSER_EVENT_FIELDS.items():
            value = event.get(name)
            if value is None:
                continue
            if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
                raise BadClientEvents(f"{name} must be {'a whole number' if kind is int else kind.__name__}.")
            data[name] = value[:MAX_DETAIL_CHARS] if kind is str else value
        checked.append((at, event["kind"], data))
    return checked


def _epoch_ms(value: object) -> int | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value < 2**53:
        return int(value)
    return None


def _time(value: datetime | str) -> datetime:
    at = datetime.fromisoformat(value) if isinstance(value, str) else value
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def timeline(run: RunRow, traces: Iterable[Trace]) -> list[dict]:
    """Entries ``{"at", "t_ms", "source", "kind", …}`` sorted by time; ``t_ms`` counts from the request."""
    entries: list[tuple[datetime, dict]] = [
        (_time(run.created_at), {"source": "server", "kind": "request", "provider": run.provider, "model": run.model})
    ]
    for attempt in run.attempts:
        number = attempt.get("attempt")
        started = {"source": "upstream", "kind": "attempt", "attempt": number}
        for field in ("continued_from_chars", "transport", "fallback"):
            if attempt.get(field):
                started[field] = attempt[field]
        entries.append((_time(attempt["started_at"]), started))
        if attempt.get("first_text_at"):
            entries.append((_time(attempt["first_text_at"]),
                            {"source": "upstream", "kind": "first_text", "attempt": number}))
        if attempt.get("ended_at"):
            ended = {"source": "upstream", "kind": "attempt_end", "attempt": number,
                     "outcome": attempt.get("outcome"), "status": attempt.get("status"), "error": attempt.get("error")}
            if attempt.get("wait_s") is not None:
                ended["wait_s"] = attempt["wait_s"]
            entries.append((_time(attempt["ended_at"]), ended))
    for at, source, kind, data in traces:
        entries.append((_time(at), {"source": source, "kind": kind, **data}))
    if run.state.is_terminal:
        entries.append((_time(run.updated_at), {"source": "server", "kind": "end", "state": str(run.state),
                                                "finish_reason": run.finish_reason, "detail": run.detail}))
    entries.sort(key=lambda entry: entry[0])
    start = _time(run.created_at)
    return [{"at": at.isoformat(), "t_ms": round((at - start).total_seconds() * 1000), **entry}
            for at, entry in entries]


def support_report(run: RunRow, traces: Iterable[Trace], provider_label: str, secrets: Iterable[str | None]) -> dict:
    """The run's support report (see the module docstring)."""
    report = {
        "report": "unbroken-support-report",
        "app_version": __version__,
        "generated_at": datetime.now(UTC).isoformat(),
        "run": {
            "run_id": run.id, "state": str(run.state), "finish_reason": run.finish_reason, "error": run.error,
            "detail": run.detail, "last_seq": run.last_seq,
            "created_at": _time(run.created_at).isoformat(), "updated_at": _time(run.updated_at).isoformat(),
        },
        "request": {
            "provider": run.provider, "provider_label": provider_label, "model": run.model,
            "max_tokens": run.max_tokens, "temperature": run.temperature,
            "system_prompt_chars": len(run.system_prompt),
        },
        "attempts": run.attempts,
        "timeline": timeline(run, traces),
    }
    # Defence in depth: error texts were redacted when recorded; redact the whole again.
    return json.loads(redact(json.dumps(report), secrets))
