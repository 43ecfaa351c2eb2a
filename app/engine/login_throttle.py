"""Login throttling: after repeated failed sign-ins, refuse further tries for a while.

Pure and clock-driven (``now`` in seconds, any monotonic origin). Failures are counted per
key — the login name and the caller's address are both keys, so neither guessing one
name's password from many addresses nor many names from one address gets far. After
``max_failures`` failures a key is locked for ``lockout_s``, doubled for every further
failure (capped at ``MAX_LOCKOUT_S``); a success forgets the key. Kept in memory: a restart
forgets the counts, which costs an attacker a restart they cannot cause.
"""

from __future__ import annotations

import dataclasses
import math

MAX_LOCKOUT_S = 3600.0
_FORGET_AFTER_S = 24 * 3600.0  # a key with no failure for this long starts again from zero
_MAX_KEYS = 100_000  # bounded memory: the oldest keys are dropped first


@dataclasses.dataclass
class _Failures:
    count: int = 0
    last_at: float = 0.0
    locked_until: float = 0.0


class LoginThrottle:
    def __init__(self, max_failures: int, lockout_s: float) -> None:
        self.max_failures = max_failures
        self.lockout_s = lockout_s
        self._keys: dict[str, _Failures] = {}

    def retry_after_s(self, keys: list[str], now: float) -> int:
        """Seconds until these keys may try again (0: now)."""
        waits = [self._keys[key].locked_until - now for key in keys if key in self._keys]
        return max([0, *(math.ceil(wait) for wait in waits)])

    def failed(self, keys: list[str], now: float) -> None:
        for key in keys:
            entry = self._keys.pop(key, None) or _Failures()
            if now - entry.last_at > _FORGET_AFTER_S:
                entry = _Failures()
            entry.count += 1
            entry.last_at = now
            beyond = entry.count - self.max_failures
            if beyond >= 0:
                entry.locked_until = now + min(MAX_LOCKOUT_S, self.lockout_s * 2**beyond)
            self._keys[key] = entry  # re-inserted: dict order is oldest failure first
        while len(self._keys) > _MAX_KEYS:
            del self._keys[next(iter(self._keys))]

    def succeeded(self, keys: list[str]) -> None:
        for key in keys:
            self._keys.pop(key, None)
