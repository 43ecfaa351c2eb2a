"""Retry arithmetic, pure: whether to try again after an upstream failure, and when.

The runner reports each failure with ``RetryPolicy.decide(error, attempt, elapsed_s, random)``
and gets back ``Retry(delay_s)`` or ``GiveUp(reason)``; it never computes a delay itself.
Backoff is exponential with full jitter (a uniform delay in ``[0, min(cap, base·2^(k-1))]``)
and never shorter than what the provider asked for (``Retry-After`` or OpenAI's
``x-ratelimit-reset-*``). A wait the budget cannot afford gives up at once, with that reason.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from app.engine.errors import PermanentError, UpstreamError

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_DURATION_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


@dataclasses.dataclass(frozen=True)
class Retry:
    delay_s: float


@dataclasses.dataclass(frozen=True)
class GiveUp:
    reason: str


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 6  # attempts in all, the first included
    base_delay_s: float = 1.0
    max_delay_s: float = 30.0
    budget_s: float = 180.0  # time from the run's first attempt within which retries may start

    def backoff_s(self, attempt: int, random: Callable[[], float]) -> float:
        """Full jitter after failed attempt number ``attempt`` (1-based)."""
        ceiling = min(self.max_delay_s, self.base_delay_s * 2 ** min(attempt - 1, 30))
        return random() * ceiling

    def decide(self, error: UpstreamError, attempt: int, elapsed_s: float, random: Callable[[], float]):
        if isinstance(error, PermanentError):
            return GiveUp(error.message)
        if attempt >= self.max_attempts:
            return GiveUp(f"{error.message} — gave up after {attempt} attempts")
        remaining_s = self.budget_s - elapsed_s
        asked_s = error.retry_after_s
        if asked_s is not None and asked_s > remaining_s:
            return GiveUp(
                f"{error.message} — the provider asked to wait {asked_s:.0f} s, "
                f"more than the {max(remaining_s, 0):.0f} s left in the retry budget"
            )
        delay_s = max(self.backoff_s(attempt, random), asked_s or 0.0)
        if delay_s > remaining_s:
            return GiveUp(f"{error.message} — the retry budget of {self.budget_s:.0f} s is used up")
        return Retry(delay_s)


def retry_after_s(error_status: int, headers: Mapping[str, str], now: datetime) -> float | None:
    """How long the upstream asked us to wait: ``Retry-After``, else on 429 the longest
    ``x-ratelimit-reset-*`` (OpenAI's ``1s`` / ``6m0s`` / ``20ms`` durations)."""
    asked = parse_retry_after(headers, now)
    if asked is None and error_status == 429:
        resets = [parse_duration_s(v) for k, v in headers.items() if k.lower().startswith("x-ratelimit-reset")]
        resets = [r for r in resets if r is not None]
        asked = max(resets) if resets else None
    return asked


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


def parse_duration_s(value: str) -> float | None:
    """``"1s"``, ``"6m0s"``, ``"1h2m3.5s"``, ``"20ms"`` or plain seconds → seconds."""
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    parts = _DURATION_PART.findall(value)
    if not parts or "".join(n + u for n, u in parts) != value:
        return None
    return sum(float(number) * _DURATION_UNIT_S[unit] for number, unit in parts)

