"""Retry arithmetic, pure: how long the upstream asked us to wait.

(The full policy — backoff with jitter, budgets, circuit breaker — grows here; the runner
only asks it for numbers.)
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


def parse_retry_after(headers: Mapping[str, str], now: datetime) -> float | None:
    """Seconds to wait from ``Retry-After`` (delta-seconds or an HTTP date), else None."""
    value = headers.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())
