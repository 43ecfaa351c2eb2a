"""Pure retry arithmetic and seam joining, table-driven."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app.engine.errors import AuthError, Overloaded, RateLimited, TransportError
from app.engine.retry import GiveUp, Retry, RetryPolicy, parse_duration_s, retry_after_s
from app.engine.seam import SeamJoiner, overlap_chars

NOW = datetime(2026, 11, 24, 12, 0, 0, tzinfo=UTC)
POLICY = RetryPolicy(max_attempts=4, base_delay_s=1.0, max_delay_s=8.0, budget_s=60.0)


def top(attempt: int) -> float:
    return POLICY.backoff_s(attempt, random=lambda: 1.0)


@pytest.mark.parametrize("attempt, ceiling", [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (9, 8.0)])
def test_backoff_ceiling_doubles_up_to_the_cap(attempt, ceiling):
    assert top(attempt) == ceiling
    assert POLICY.backoff_s(attempt, random=lambda: 0.0) == 0.0


@pytest.mark.parametrize(
    "error, attempt, elapsed_s, expected",
    [
        (TransportError("dropped", provider="p"), 1, 0, Retry(0.5)),
        (RateLimited("429", provider="p", retry_after_s=2.0), 1, 0, Retry(2.0)),  # at least what was asked
        (RateLimited("429", provider="p", retry_after_s=0.1), 3, 0, Retry(2.0)),  # backoff is longer
        (Overloaded("529", provider="p"), 4, 0, GiveUp("529 — gave up after 4 attempts")),
        (AuthError("The API key was rejected by p", provider="p", status=401), 1, 0,
         GiveUp("The API key was rejected by p")),
        (RateLimited("429", provider="p", retry_after_s=120.0), 1, 0,
         GiveUp("429 — the provider asked to wait 120 s, more than the 60 s left in the retry budget")),
        (TransportError("dropped", provider="p"), 2, 59.5, GiveUp("dropped — the retry budget of 60 s is used up")),
    ],
)
def test_decide(error, attempt, elapsed_s, expected):
    assert POLICY.decide(error, attempt, elapsed_s, random=lambda: 0.5) == expected


@pytest.mark.parametrize(
    "status, headers, expected",
    [
        (429, {"retry-after": "2"}, 2.0),
        (429, {"retry-after": "Tue, 24 Nov 2026 12:00:30 GMT"}, 30.0),
        (503, {"retry-after": "Tue, 24 Nov 2026 11:00:00 GMT"}, 0.0),  # a date in the past: now
        (429, {"retry-after": "soon"}, None),
        (429, {"x-ratelimit-reset-requests": "1s", "x-ratelimit-reset-tokens": "6m0s"}, 360.0),
        (503, {"x-ratelimit-reset-tokens": "6m0s"}, None),  # only rate limits carry those
        (429, {}, None),
    ],
)
def test_retry_after(status, headers, expected):
    assert retry_after_s(status, headers, NOW) == expected


@pytest.mark.parametrize(
    "value, seconds", [("1s", 1.0), ("6m0s", 360.0), ("20ms", 0.02), ("1h2m3.5s", 3723.5), ("7", 7.0), ("x1s", None)]
)
def test_parse_duration(value, seconds):
    assert parse_duration_s(value) == seconds


@pytest.mark.parametrize(
    "prefix, continuation, overlap",
    [
        ("The quick brown fox", " jumps", 0),
        ("The quick brown fox", "brown fox jumps", 9),
        ("The quick brown fox", "fox jumps", 0),  # 3 chars: too short to call an echo
        ("abc", "abcabc", 0),
        ("hello world", "hello world again", 11),
    ],
)
def test_overlap_chars(prefix, continuation, overlap):
    assert overlap_chars(prefix, continuation) == overlap


def test_seam_joiner_holds_back_until_it_can_tell_then_drops_the_echo():
    joiner = SeamJoiner("Once upon a time there was")
    shown = [joiner.feed(piece) for piece in ["time ", "there", " was a", " fox", " who ran"]]
    shown.append(joiner.flush())
    assert "".join(shown) == " a fox who ran"
    assert joiner.removed_chars == len("time there was")


def test_seam_joiner_flushes_a_short_continuation():
    joiner = SeamJoiner("A long partial answer that ends here")
    assert joiner.feed(" end.") == ""
    assert joiner.flush() == " end."


def test_seam_joiner_without_prefix_passes_text_through():
    joiner = SeamJoiner("")
    assert joiner.feed("abc") == "abc"
