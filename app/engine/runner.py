"""The run supervisor: one asyncio task per run, detached from any HTTP request.

The runner is the only writer of its run's log. It asks the provider for the answer,
appends ``status`` / ``delta`` / ``end`` events, and always finishes a run with an ``end``
— except when the whole server shuts down, in which case the run stays unfinished in the
database and ``recover`` marks it ``interrupted`` at the next start.

A browser that reloads, drops or never connects does not touch the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from app.engine.errors import IncompleteStream, UpstreamError
from app.engine.events import Delta, End, Status
from app.engine.history import History
from app.engine.log import EventLog
from app.engine.providers.base import ChatRequest, Provider, StreamEnd, TextDelta
from app.engine.states import RunState, check_transition
from app.engine.store import RunRow, Store

logger = logging.getLogger(__name__)

RESTART_DETAIL = "Interrupted — the server restarted before this answer finished"
STOP_DETAIL = "Stopped"


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Runner:
    def __init__(
        self,
        store: Store,
        history: History,
        log: EventLog,
        provider: Provider,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._store = store
        self._history = history
        self._log = log
        self._provider = provider
        self._clock = clock
        self._tasks: dict[str, asyncio.Task] = {}
        self._stop_requested: set[str] = set()

    def start(self, run: RunRow) -> None:
        self._log.open(run.id, run.last_seq)  # before returning, so readers find the live feed
        task = asyncio.create_task(self._drive(run), name=f"run:{run.id}")
        self._tasks[run.id] = task
        task.add_done_callback(lambda _: self._tasks.pop(run.id, None))

    def is_running(self, run_id: str) -> bool:
        return run_id in self._tasks

    async def stop(self, run_id: str) -> None:
        """Stop a run, keeping exactly the text already appended; no-op once it has ended."""
        task = self._tasks.get(run_id)
        if task is not None:
            self._stop_requested.add(run_id)
            task.cancel()
            await asyncio.wait([task])
            return
        run = await asyncio.to_thread(self._store.get_run, run_id)
        if run is not None and not run.state.is_terminal:
            # Unfinished with no producer in this process: end it here.
            await self._end_orphan(run, End(RunState.STOPPED, STOP_DETAIL))

    async def recover(self) -> int:
        """At start-up: every run left unfinished by a previous process becomes ``interrupted``."""
        runs = await asyncio.to_thread(self._store.unfinished_runs)
        for run in runs:
            await self._end_orphan(run, End(RunState.INTERRUPTED, RESTART_DETAIL, error="server_restart"))
        return len(runs)

    async def shutdown(self) -> None:
        """Cancel every run task; their runs stay unfinished for ``recover`` to find."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._log.flush()

    async def _end_orphan(self, run: RunRow, end: End) -> None:
        text = await asyncio.to_thread(self._store.run_text, run.id)
        self._log.open(run.id, run.last_seq, text_so_far=text)
        self._log.append(run.id, end)
        await self._log.durable()

    async def _drive(self, run: RunRow) -> None:
        attempt = _Attempt(number=1, started_at=self._clock())
        state = RunState(run.state)
        has_text = False

        def move(target: RunState, **fields) -> None:
            nonlocal state
            state = check_transition(state, target)
            self._log.append(run.id, Status(target, **fields))

        try:
            context = await asyncio.to_thread(self._history.chat_context, run.conversation_id, run.message_id)
            request = ChatRequest(messages=tuple(context), model=run.model, max_tokens=run.max_tokens)
            move(RunState.CONNECTING, detail=f"Asking {self._provider.label}")
            end = None
            async with contextlib.aclosing(self._provider.stream(request)) as items:
                async for item in items:
                    if isinstance(item, TextDelta):
                        if state != RunState.STREAMING:
                            move(RunState.STREAMING)
                        self._log.append(run.id, Delta(item.text))
                        has_text = True
                    elif isinstance(item, StreamEnd):
                        truncated = item.finish_reason == "length"
                        end = End(
                            RunState.TRUNCATED if truncated else RunState.COMPLETE,
                            "Reached the length limit" if truncated else "",
                            finish_reason=item.finish_reason,
                        )
                        break
            if end is None:
                raise IncompleteStream(
                    f"The answer from {self._provider.name} ended without its end marker",
                    provider=self._provider.name,
                )
            attempt.finish(self._clock(), "ok")
        except UpstreamError as exc:
            attempt.finish(self._clock(), exc.cause, status=exc.status, message=exc.message)
            # With text already shown, the partial is kept and offered for Continue.
            ended = RunState.INTERRUPTED if has_text else RunState.FAILED
            end = End(ended, exc.message, error=exc.cause)
        except asyncio.CancelledError:
            if run.id not in self._stop_requested:
                raise  # the server is shutting down: leave the run for recover()
            self._stop_requested.discard(run.id)
            asyncio.current_task().uncancel()
            attempt.finish(self._clock(), "stopped")
            end = End(RunState.STOPPED, STOP_DETAIL)
        except Exception:
            logger.exception("run %s failed inside Unbroken", run.id)
            attempt.finish(self._clock(), "internal_error")
            end = End(RunState.FAILED, "Unbroken hit an internal error; the details are in the server log",
                      error="internal_error")
        self._log.set_attempts(run.id, [*run.attempts, attempt.record])
        self._log.append(run.id, end)
        await self._log.durable()


class _Attempt:
    def __init__(self, number: int, started_at: datetime) -> None:
        self.record: dict = {"attempt": number, "started_at": started_at.isoformat()}

    def finish(self, at: datetime, outcome: str, *, status: int | None = None, message: str | None = None) -> None:
        self.record.update({"ended_at": at.isoformat(), "outcome": outcome, "status": status, "error": message})
