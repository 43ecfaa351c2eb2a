"""Counting an answer's tokens while it streams, and holding a run to its cap.

Providers report usage at the end of an answer if at all, so while text arrives Unbroken
estimates: one token per ``CHARS_PER_TOKEN`` characters, rounded up (the usual rule of thumb
for English; code and many other languages take more tokens per character, so there the
estimate runs low and the provider's own ``max_tokens`` limit stops the answer first). The page
shows the same estimate live (``tokenEstimate`` in assets/stream_apply.js), and the ``end``
event carries the server's count: per attempt, the provider's own (``Usage``) when it sent one,
else the estimate of that attempt's text.

A run's ``max_tokens`` is its cap, enforced here as well as sent to the provider (some servers
ignore it): each drive of a run — the first request, each Continue — may add up to the cap;
when the estimate reaches it, the attempt stops and the run ends ``truncated``, offered as
Continue, which goes on from exactly there.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

CHARS_PER_TOKEN = 4


def estimate_tokens(chars: int) -> int:
    return -(-chars // CHARS_PER_TOKEN)


class CapReached(Exception):
    """Raised from the runner's text callback: this drive's answer reached its cap, or what is
    left of the daily budget (``budget``)."""

    def __init__(self, cap: int, counted: int, budget: bool = False) -> None:
        super().__init__(f"reached the {'budget' if budget else 'cap'} of {cap} tokens ({counted} counted)")
        self.cap, self.counted, self.budget = cap, counted, budget

    @property
    def detail(self) -> str:
        if self.budget:
            return "Reached today's token budget; Continue works again after 00:00 UTC"
        return f"Reached the limit of {self.cap} tokens; Continue goes on"


# -- the daily budget -------------------------------------------------------------------------
# UNBROKEN_DAILY_TOKEN_BUDGET: the tokens answers may use per UTC day — the one local user's
# until there are accounts. An answer counts with its count as of its last end (an answer still
# streaming counts once it ends). It is checked before anything goes upstream (a refusal says
# when the day renews) and while an answer streams: a drive adds at most what is left, then
# ends truncated like a cap.


def day_start(now: datetime) -> datetime:
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def seconds_until_next_day(now: datetime) -> int:
    return max(1, math.ceil((day_start(now) + timedelta(days=1) - now).total_seconds()))
