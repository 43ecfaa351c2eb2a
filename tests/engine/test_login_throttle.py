"""Login throttling: a lockout after max failures, doubling, forgotten on success — counted in
the database, so that two throttles on one database (two workers) count the same failures."""

from __future__ import annotations

import pytest

from app.engine.db import open_database
from app.engine.login_throttle import FORGET_AFTER_S, MAX_LOCKOUT_S, LoginThrottle
from tests import stored
from tests.fakes.clock import Clock


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def throttles(database_url, clock):
    """``throttles(max_failures, lockout_s)`` → two throttles on one database, as two workers have."""
    engines = []

    def make(max_failures: int, lockout_s: float) -> tuple[LoginThrottle, LoginThrottle]:
        engines.extend(open_database(database_url) for _ in range(2))
        return tuple(LoginThrottle(engine, max_failures, lockout_s, clock=clock) for engine in engines[-2:])

    yield make
    for engine in engines:
        engine.dispose()


def test_the_lockout_starts_at_the_limit_and_doubles_with_each_further_failure(throttles, clock):
    first, second = throttles(max_failures=3, lockout_s=10)
    keys = ["name:alice", "address:10.0.0.1"]
    first.failed(keys)
    second.failed(keys)  # on another worker: the same count
    assert first.retry_after_s(keys) == second.retry_after_s(keys) == 0
    clock.t += 1
    second.failed(keys)
    assert first.retry_after_s(keys) == 10
    clock.t += 10
    assert first.retry_after_s(keys) == 0
    first.failed(keys)
    assert second.retry_after_s(keys) == 20
    assert second.retry_after_s(["name:alice"]) == 20  # each key on its own
    assert second.retry_after_s(["name:bob", "address:10.0.0.2"]) == 0


def test_a_success_forgets_the_keys_and_lockouts_are_capped(throttles, clock):
    first, second = throttles(max_failures=1, lockout_s=60)
    for _ in range(30):
        first.failed(["name:alice"])
    assert second.retry_after_s(["name:alice"]) == MAX_LOCKOUT_S
    second.succeeded(["name:alice"])
    assert first.retry_after_s(["name:alice"]) == 0


def test_a_quiet_day_starts_a_key_again_and_no_attempted_name_is_stored(throttles, clock, database_url):
    first, _ = throttles(max_failures=2, lockout_s=60)
    first.failed(["name:my-password-typed-as-name"])
    clock.t += FORGET_AFTER_S + 1
    first.failed(["name:carol"])  # deletes the day-old key
    first.failed(["name:carol"])
    assert first.retry_after_s(["name:carol"]) == 60
    assert stored.rows(database_url, "SELECT count(*) FROM login_failure") == [(1,)]
    assert b"carol" not in stored.everything(database_url)
