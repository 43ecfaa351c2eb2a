"""Login throttling as a pure rule: a lockout after max failures, doubling, forgotten on success."""

from __future__ import annotations

from app.engine.login_throttle import MAX_LOCKOUT_S, LoginThrottle


def test_the_lockout_starts_at_the_limit_and_doubles_with_each_further_failure():
    throttle = LoginThrottle(max_failures=3, lockout_s=10)
    keys = ["name:alice", "address:10.0.0.1"]
    for now in (0, 1):
        throttle.failed(keys, now)
        assert throttle.retry_after_s(keys, now) == 0
    throttle.failed(keys, 2)
    assert throttle.retry_after_s(keys, 2) == 10
    assert throttle.retry_after_s(keys, 12) == 0
    throttle.failed(keys, 12)
    assert throttle.retry_after_s(keys, 12) == 20
    assert throttle.retry_after_s(["name:alice"], 12) == 20  # each key on its own
    assert throttle.retry_after_s(["name:bob", "address:10.0.0.2"], 12) == 0


def test_a_success_forgets_the_keys_and_lockouts_are_capped():
    throttle = LoginThrottle(max_failures=1, lockout_s=60)
    for now in range(30):
        throttle.failed(["name:alice"], now)
    assert throttle.retry_after_s(["name:alice"], 29) == MAX_LOCKOUT_S
    throttle.succeeded(["name:alice"])
    assert throttle.retry_after_s(["name:alice"], 29) == 0
