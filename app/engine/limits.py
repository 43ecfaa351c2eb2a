"""Per-user limits, checked before anything goes upstream: messages per minute, answers
running at once, tokens per UTC day. Each refusal is an ``OverLimit`` (HTTP 429) that says
when to try again.

The counts come from the database (the runs a user started in the last minute, their runs
not yet ended, the tokens of today's answers), so they hold across restarts. A user's own
limits (set by an admin) replace the instance's defaults. Blocking: call in a thread.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from app.engine.accounts import Accounts, UserLimits
from app.engine.run_input import OverLimit
from app.engine.store import Store
from app.engine.tokens import day_start, seconds_until_next_day
from app.settings import Settings

MINUTE = timedelta(minutes=1)
BUSY_RETRY_AFTER_S = 5  # a running answer usually ends or can be stopped within this


class RunLimits:
    def __init__(self, store: Store, accounts: Accounts, settings: Settings,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._store, self._accounts, self._settings, self._now = store, accounts, settings, now

    def of(self, user_id: str) -> UserLimits:
        """The limits that apply to the user: their own, else the instance's."""
        row = self._accounts.user(user_id)
        own = row.limits if row else UserLimits()
        return UserLimits(
            messages_per_minute=own.messages_per_minute or self._settings.messages_per_minute,
            concurrent_runs=own.concurrent_runs or self._settings.concurrent_runs,
            daily_token_budget=own.daily_token_budget or self._settings.daily_token_budget,
        )

    def check_new_message(self, user_id: str) -> None:
        """A new answer (send, edit, retry) may start: all three limits."""
        limits = self.of(user_id)
        now = self._now()
        starts = self._store.starts_since(user_id, now - MINUTE, limits.messages_per_minute)
        if len(starts) >= limits.messages_per_minute:
            wait = max(1, math.ceil((starts[0] + MINUTE - now).total_seconds()))
            raise OverLimit("too_many_messages",
                            f"You have sent {limits.messages_per_minute} messages in the last minute, the most "
                            f"allowed; try again in {wait} s.", wait)
        self._check_running(user_id, limits)

    def check_continue(self, user_id: str) -> None:
        """An answer goes on (Continue): it runs again and spends tokens, but is no new message."""
        self._check_running(user_id, self.of(user_id))

    def budget_left(self, user_id: str) -> int | None:
        """The tokens today's budget still allows the user (never below 0), or None without one."""
        budget = self.of(user_id).daily_token_budget
        if not budget:
            return None
        return max(0, budget - self._store.tokens_since(day_start(self._now()), user_id))

    def _check_running(self, user_id: str, limits: UserLimits) -> None:
        if self._store.unfinished_count(user_id) >= limits.concurrent_runs:
            raise OverLimit("too_many_runs",
                            f"{limits.concurrent_runs} answers are already being written for you, the most at "
                            "once; wait for one to finish or stop one.", BUSY_RETRY_AFTER_S)
        if self.budget_left(user_id) == 0:
            raise OverLimit("token_budget",
                            f"Today's token budget ({limits.daily_token_budget} tokens) is used up; it renews at "
                            "00:00 UTC.", seconds_until_next_day(self._now()))
