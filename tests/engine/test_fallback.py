"""When a provider's next attempt asks without streaming."""

from __future__ import annotations

from app.engine.fallback import StreamFallback
from tests.fakes.clock import Clock


def test_two_stream_breaks_in_a_row_switch_to_plain_requests_for_a_while():
    clock = Clock()
    fallback = StreamFallback(after_failures=2, hold_s=60, clock=clock)
    fallback.record(streamed=True, cause="transport")
    assert fallback.plain_reason() is None
    fallback.record(streamed=True, cause="incomplete_stream")
    assert fallback.plain_reason() == "its streams failed 2 times in a row (incomplete stream)"
    fallback.record(streamed=False, cause=None)  # a plain success says nothing about streams
    clock.t = 59.9
    assert fallback.plain_reason() is not None
    clock.t = 60.0
    assert fallback.plain_reason() is None  # streaming is tried again


def test_only_the_failures_a_plain_request_avoids_count_and_a_success_clears_them():
    fallback = StreamFallback(after_failures=2, clock=Clock())
    for cause in ("rate_limited", "overloaded", "auth", "server_error"):
        fallback.record(streamed=True, cause=cause)
    assert fallback.plain_reason() is None
    fallback.record(streamed=True, cause="timeout")
    fallback.record(streamed=True, cause=None)
    fallback.record(streamed=True, cause="timeout")
    assert fallback.plain_reason() is None


def test_streaming_turned_off_always_asks_plainly():
    assert StreamFallback(always=True).plain_reason() == "streaming is turned off for this provider"
