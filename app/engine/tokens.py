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

CHARS_PER_TOKEN = 4


def estimate_tokens(chars: int) -> int:
    return -(-chars // CHARS_PER_TOKEN)


class CapReached(Exception):
    """Raised from the runner's text callback: this drive's answer reached its cap."""

    def __init__(self, cap: int, counted: int) -> None:
        super().__init__(f"reached the cap of {cap} tokens ({counted} counted)")
        self.cap, self.counted = cap, counted
