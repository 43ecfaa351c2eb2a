"""The pace of an attempt's text: what the tokens-per-second metric observes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app.engine.attempts import Attempt, stream_rate_per_s


@pytest.mark.parametrize(
    "deltas, first_s, last_s, rate",
    [
        (0, None, None, None),  # no text
        (1, 5.0, 5.0, None),  # one delta: no interval to measure
        (3, 5.0, 5.0, None),  # all at once (one read): no time between them
        (2, 5.0, 5.5, 2.0),
        (11, 0.0, 2.0, 5.0),  # ten deltas after the first, in two seconds
    ],
)
def test_the_rate_counts_deltas_after_the_first_over_the_time_they_took(deltas, first_s, last_s, rate):
    assert stream_rate_per_s(deltas, first_s, last_s) == rate


def test_an_attempt_records_its_first_text_once_and_measures_its_pace():
    attempt = Attempt(number=2, started_at=datetime(2030, 1, 1, tzinfo=UTC), prefix_chars=40)
    for second in (10.0, 10.5, 11.0):
        attempt.text_arrived(datetime(2030, 1, 1, 0, 0, int(second), tzinfo=UTC), second)
    assert attempt.record["first_text_at"] == "2030-01-01T00:00:10+00:00"
    assert attempt.record["continued_from_chars"] == 40
    assert (attempt.number, attempt.text_deltas, attempt.tokens_per_s) == (2, 3, 2.0)
