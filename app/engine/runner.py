"""The run supervisor: one asyncio task per run, detached from any HTTP request.

The runner is the only writer of its run's log. It asks the provider for the answer,
appends ``status`` / ``delta`` / ``end`` events, and always finishes a run with an ``end``
— except when the whole server shuts down, in which case the run stays unfinished in the
database and ``recover`` marks it ``interrupted`` at the next start.

Failures follow the retry policy (``retry.RetryPolicy``): before any text, the run waits
(``retrying``, with ``retry_at``) and asks again; after text, it waits and then
**continues** the same answer — the partial goes back to the provider as the assistant's
prefix, the overlap at the seam is dropped, and the answer stays one run with one log.

A browser that reloads, drops or never connects does not touch the run.

With several workers (leases.py), the runner answers the runs its worker holds a lease on,
renews those leases (``keep_leases``), and takes over the runs whose worker died — exactly
like the runs a restart left unfinished: ``interrupted``, then continued by policy.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
import random
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from app.engine.attempts import Attempt, Timeouts, stream_attempt
from app.engine.chaos import Chaos
from app.engine.fallback import PlainRequest, StreamFallback
from app.engine.errors import RetryableError, UpstreamError
from app.engine.events import Delta, End, Status
from app.engine.gate import CircuitBreaker, CircuitOpen, SlotQueue
from app.engine.history import History
from app.engine.leases import Leases, held
from app.engine.log import EventLog
from app.engine.providers.base import ChatMessage, ChatRequest, Provider
from app.engine.providers.registry import ProviderRegistry
from app.engine.retry import GiveUp, RetryPolicy
from app.engine.states import RunState, check_transition
from app.engine.rows import RunRow
from app.engine.store import Store
from app.engine.tokens import CapReached, estimate_tokens
from app.engine.telemetry import Telemetry

logger = logging.getLogger(__name__)

RESTART_DETAIL = "The server restarted before this answer finished"
STOP_DETAIL = "Stopped"
STOP_POLL_S = 0.1  # a stop of a run another worker answers: how often to look whether it ended
ASK_AGAIN_S = 1.0  # … and how often to ask that worker again


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclasses.dataclass(frozen=True)
class RunnerClock:
    """Time as the runner sees it; tests pass a fake ``sleep`` so waits take no time."""

    now: Callable[[], datetime] = _utcnow
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    random: Callable[[], float] = random.random


@dataclasses.dataclass(frozen=True)
class GateSettings:
    concurrency: int = 8  # streams at once per provider
    breaker_failures: int = 5
    breaker_cooldown_s: float = 30.0
    streaming: bool = True  # False: always ask without streaming
    stream_fallback_after: int = 2  # stream breaks in a row before asking without streaming
    stream_fallback_s: float = 300.0  # how long to ask without streaming before streaming again


@dataclasses.dataclass(frozen=True)
class _Gate:
    breaker: CircuitBreaker
    slots: SlotQueue
    fallback: StreamFallback


class Runner:
    def __init__(
        self,
        store: Store,
        history: History,
        log: EventLog,
        registry: ProviderRegistry,
        policy: RetryPolicy = RetryPolicy(),
        timeouts: Timeouts = Timeouts(),
        clock: RunnerClock = RunnerClock(),
        gates: GateSettings = GateSettings(),
        chaos: Chaos | None = None,
        telemetry: Telemetry | None = None,
        on_end: Callable[[RunRow, End], None] | None = None,
        budget_left: Callable[[str], int | None] | None = None,
        leases: Leases | None = None,
        ask_owner: Callable[[str, str, str], Awaitable[None]] | None = None,
    ) -> None:
        """``on_end``: told of each drive's end once it is durable (side work such as titles);
        ``budget_left``: the tokens today's budget still allows a user (by id), None for no
        budget (blocking: called in a thread as each drive starts); ``leases``: the worker's
        claims on its runs (default: the instance's only worker); ``ask_owner(worker, action,
        run_id)``: send "stop" or "retry_now" to the worker answering a run (fanout.py)."""
        self._store = store
        self._leases = leases or Leases(store.engine, store.worker)
        self._ask_owner = ask_owner
        log.on_lost = self.abandon
        self._history = history
        self._log = log
        self._gate_settings = gates
        self._loop_time = asyncio.get_running_loop().time
        self._gates: dict[str, _Gate] = {}
        self._policy = policy
        self._timeouts = timeouts
        self._clock = clock
        self._tasks: dict[str, asyncio.Task] = {}
        self._stop_requested: set[str] = set()
        self._retry_now: dict[str, asyncio.Event] = {}  # runs waiting between attempts
        self._chaos = chaos or Chaos(enabled=False)
        self._telemetry = telemetry or Telemetry()
        self._on_end = on_end
        self._budget_left = budget_left
        self.use_registry(registry)

    def use_registry(self, registry: ProviderRegistry) -> None:
        """Serve the next answers from ``registry`` (an admin changed the providers); answers
        under way go on with the provider they started with. A provider keeps its gate
        (breaker, slots, stream fallback) across changes."""
        self._registry = registry
        for name in registry.providers:
            if name not in self._gates:
                self._gates[name] = gate = self._new_gate(name)
                self._telemetry.watch_gate(name, gate.breaker, gate.slots)

    def _new_gate(self, name: str) -> _Gate:
        settings, loop_time = self._gate_settings, self._loop_time
        return _Gate(
            CircuitBreaker(name, settings.breaker_failures, settings.breaker_cooldown_s, loop_time),
            SlotQueue(settings.concurrency),
            StreamFallback(settings.stream_fallback_after, settings.stream_fallback_s, not settings.streaming,
                           loop_time),
        )

    def start(self, run: RunRow, text_so_far: str = "") -> None:
        """Run (or, with ``text_so_far``, continue) an answer in a task of its own."""
        self._log.open(run.id, run.last_seq, text_so_far)  # before returning: readers find the feed
        self._telemetry.drive_started(run)
        task = asyncio.create_task(_Drive(self, run, text_so_far).run(), name=f"run:{run.id}")
        self._tasks[run.id] = task
        task.add_done_callback(lambda _: self._tasks.pop(run.id, None))

    def is_running(self, run_id: str) -> bool:
        return run_id in self._tasks

    def retry_now(self, run_id: str) -> bool:
        """Cut short the wait before a run's next attempt; False when it is not waiting."""
        event = self._retry_now.get(run_id)
        if event is None:
            return False
        event.set()
        return True

    async def _wait_or_retry_now(self, run_id: str, delay_s: float) -> None:
        wake = self._retry_now[run_id] = asyncio.Event()
        sleeper = asyncio.ensure_future(self._clock.sleep(delay_s))
        waker = asyncio.ensure_future(wake.wait())
        try:
            await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            del self._retry_now[run_id]
            sleeper.cancel()
            waker.cancel()

    async def stop(self, run_id: str) -> None:
        """Stop a run, keeping exactly the text already appended; no-op once it has ended.

        A run answered by another worker is stopped there (``ask_owner``); a run nobody
        answers (its worker died) is claimed and ended here.
        """
        loop = asyncio.get_running_loop()
        deadline, asked_at = loop.time() + 3 * self._leases.worker.lease_s, -math.inf
        while True:
            task = self._tasks.get(run_id)
            if task is not None:
                self._stop_requested.add(run_id)
                task.cancel()
                await asyncio.wait([task])
                return
            run = await asyncio.to_thread(self._store.get_run, run_id)
            if run is None or run.state.is_terminal:
                return
            if not held(run) and await asyncio.to_thread(self._leases.take_orphan, run_id):
                run = await asyncio.to_thread(self._store.get_run, run_id)  # as of the claim
                await self._end_orphan(run, End(RunState.STOPPED, STOP_DETAIL))
                return
            if run.owner != self._leases.worker.id and self._ask_owner is not None \
                    and loop.time() - asked_at >= ASK_AGAIN_S:
                asked_at = loop.time()
                await self._ask_owner(run.owner, "stop", run_id)
            if loop.time() > deadline:
                raise TimeoutError(f"run {run_id} did not stop")
            await asyncio.sleep(STOP_POLL_S)

    async def recover(self, auto_continue_max: int = 0) -> list[str]:
        """At start-up: take over the runs nobody answers (see ``take_over``), this worker's
        own from before a restart included."""
        return await self.take_over(auto_continue_max, restart=True)

    async def take_over(self, auto_continue_max: int = 0, restart: bool = False) -> list[str]:
        """Every unfinished run nobody answers (left by a previous process, or by a worker
        that died) becomes ``interrupted``; each is then continued, unless it was already
        continued ``auto_continue_max`` times after restarts. Returns the ids taken over."""
        taken = []
        for run in await asyncio.to_thread(self._leases.orphans, list(self._tasks), restart):
            if not await asyncio.to_thread(self._leases.take_orphan, run.id, restart):
                continue  # another worker was faster, or the owner renewed in time
            run = await asyncio.to_thread(self._store.get_run, run.id)  # as of the claim
            restarts = [*run.attempts, {"outcome": "server_restart", "ended_at": self._clock.now().isoformat()}]
            again = sum(a.get("outcome") == "server_restart" for a in restarts) <= auto_continue_max
            await self._end_orphan(run, End(RunState.INTERRUPTED, RESTART_DETAIL, error="server_restart"), restarts,
                                   hold=again)
            if again:
                fresh = await asyncio.to_thread(self._store.get_run, run.id)
                text = await asyncio.to_thread(self._store.run_text, run.id)
                self.start(fresh, text_so_far=text)
            taken.append(run.id)
        return taken

    async def keep_leases(self, auto_continue_max: int = 0) -> None:
        """Runs until cancelled: renew this worker's leases a few times per lease, give up
        the runs another worker took, and take over the runs nobody answers any more."""
        while True:
            await asyncio.sleep(self._leases.worker.lease_s / 4)
            try:
                lost = await asyncio.to_thread(self._leases.renew, list(self._tasks))
                if lost:
                    logger.warning("run(s) %s were taken over by another worker", ", ".join(sorted(lost)))
                    self.abandon(lost)
                taken = await self.take_over(auto_continue_max)
                if taken:
                    logger.info("took over %d run(s) whose worker stopped answering", len(taken))
            except Exception:
                logger.exception("renewing or taking over leases failed; trying again")

    def abandon(self, run_ids: set[str]) -> None:
        """Another worker answers these runs now: end their drives here without a word."""
        for run_id in run_ids:
            task = self._tasks.get(run_id)
            if task is not None:
                task.cancel()  # not a stop: nothing more is appended
            self._log.drop(run_id)

    async def shutdown(self) -> None:
        """Cancel every run task; their runs stay unfinished, and their leases are given back
        so that another worker (or this one, restarted) takes them over at once."""
        tasks = list(self._tasks.values())
        running = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._log.flush()
        await asyncio.to_thread(self._leases.give_back, running)

    async def _end_orphan(self, run: RunRow, end: End, attempts: list[dict] | None = None, hold: bool = False) -> None:
        """End a run this worker claimed but does not drive; ``hold``: keep the lease (a
        continuation starts right after)."""
        text = await asyncio.to_thread(self._store.run_text, run.id)
        self._log.open(run.id, run.last_seq, text_so_far=text, hold=hold)
        if attempts is not None:
            self._log.set_attempts(run.id, attempts)
        self._log.append(run.id, end)
        self._telemetry.run_ended(run.id, run.provider, run.state, end, text, len(attempts or run.attempts))
        await self._log.durable()


class _Drive:
    """One run's attempts, from the first request to its ``end`` event."""

    def __init__(self, runner: Runner, run: RunRow, text_so_far: str) -> None:
        self.r = runner
        self.run_row = run
        self.state = run.state
        self.text_parts = [text_so_far] if text_so_far else []
        self.attempts = list(run.attempts)
        self.attempt: Attempt | None = None  # the current or last attempt of this drive
        self.started_s = asyncio.get_running_loop().time()  # the request that started this drive
        self.shown_text = False
        self.drive_chars = 0  # text this drive added: each drive may add up to the run's cap
        # The answer's tokens: an estimate for text from before this drive, then per finished
        # attempt the provider's count when it reported one, else the estimate of its text.
        self.tokens = estimate_tokens(len(text_so_far))
        self.attempt_chars = 0
        self.budget_left: int | None = None  # read as the drive starts

    @property
    def telemetry(self) -> Telemetry:
        return self.r._telemetry

    @property
    def has_text(self) -> bool:
        return any(self.text_parts)

    def move(self, target: RunState, **fields) -> None:
        old, self.state = self.state, check_transition(self.state, target)
        self.r._log.append(self.run_row.id, Status(target, **fields))
        if target != old:
            attempt = fields.get("attempt") or (self.attempt.number if self.attempt else None)
            self.telemetry.run_state(self.run_row.id, old, target, attempt)

    def add_text(self, text: str) -> None:
        if self.state != RunState.STREAMING:
            self.move(RunState.STREAMING)
        if not self.shown_text:
            self.shown_text = True
            self.telemetry.first_text(self.run_row.provider, asyncio.get_running_loop().time() - self.started_s)
        self.text_parts.append(text)
        self.r._log.append(self.run_row.id, Delta(text))
        self.drive_chars += len(text)
        self.attempt_chars += len(text)
        counted, cap = estimate_tokens(self.drive_chars), self.run_row.max_tokens
        if self.budget_left is not None and counted >= self.budget_left:
            raise CapReached(self.budget_left, counted, budget=True)
        if cap and counted >= cap:
            raise CapReached(cap, counted)

    async def run(self) -> None:
        run, r = self.run_row, self.r
        try:
            if r._budget_left is not None:
                self.budget_left = await asyncio.to_thread(r._budget_left, run.user_id)
            end = await self._attempt_until_done()
        except asyncio.CancelledError:
            if run.id not in r._stop_requested:
                raise  # the server is shutting down: leave the run for recover()
            r._stop_requested.discard(run.id)
            asyncio.current_task().uncancel()
            self._close_open_attempt("stopped")
            end = End(RunState.STOPPED, STOP_DETAIL)
        except Exception:
            logger.exception("run %s failed inside Unbroken", run.id)
            self._close_open_attempt("internal_error")
            end = End(RunState.FAILED, "Unbroken hit an internal error; the details are in the server log",
                      error="internal_error")
        r._log.set_attempts(run.id, self.attempts)
        end = dataclasses.replace(end, tokens=self.tokens)
        r._log.append(run.id, end)
        self.telemetry.run_ended(run.id, run.provider, self.state, end, "".join(self.text_parts), len(self.attempts))
        await r._log.durable()
        if r._on_end is not None:
            r._on_end(run, end)

    async def _attempt_until_done(self) -> End:
        run, r = self.run_row, self.r
        provider = r._registry.providers.get(run.provider)
        if provider is None:
            return End(RunState.FAILED, f"The provider {run.provider!r} is no longer configured", error="config")
        context = await asyncio.to_thread(r._history.chat_context, run.message_id)
        if run.system_prompt:
            context.insert(0, ChatMessage(role="system", content=run.system_prompt))
        first_started = r._clock.now()
        deadline = asyncio.get_running_loop().time() + r._timeouts.total_s
        number = 0
        while True:
            number += 1
            try:
                end = await self._one_attempt(provider, context, number, deadline)
            except UpstreamError as exc:
                elapsed_s = (r._clock.now() - first_started).total_seconds()
                decision = r._policy.decide(exc, number, elapsed_s, r._clock.random)
                if isinstance(decision, GiveUp):
                    self.telemetry.attempt_ended(run.id, provider.name, self.attempt)
                    ended = RunState.INTERRUPTED if self.has_text else RunState.FAILED
                    return End(ended, decision.reason, error=exc.cause)
                self.attempts[-1]["wait_s"] = round(decision.delay_s, 3)
                self.telemetry.attempt_ended(run.id, provider.name, self.attempt)
                retry_at = r._clock.now() + timedelta(seconds=decision.delay_s)
                self.move(RunState.RETRYING, attempt=number + 1, max_attempts=r._policy.max_attempts,
                          retry_at=retry_at, detail=exc.message)
                r._log.set_attempts(run.id, self.attempts)
                await r._wait_or_retry_now(run.id, decision.delay_s)
            else:
                self.telemetry.attempt_ended(run.id, provider.name, self.attempt)
                return end

    async def _one_attempt(self, provider: Provider, context, number: int, deadline: float) -> End:
        """Pass the provider's gate (breaker, then a slot), then stream; raises UpstreamError."""
        run, r = self.run_row, self.r
        prefix = "".join(self.text_parts)
        attempt = self.attempt = Attempt(number=number, started_at=r._clock.now(), prefix_chars=len(prefix))
        self.attempt_chars = 0
        self.attempts.append(attempt.record)
        # The first attempt of a drive that starts with text is a Continue (or one after a restart).
        self.telemetry.attempt_started(run.id, provider.name, run.model, attempt, requested=number == 1)
        gate = r._gates[provider.name]
        plain = gate.fallback.plain_reason() if provider.answers_whole else None
        if plain:
            attempt.record.update(transport="plain", fallback=plain)

        def queued(ahead: int) -> None:
            self.move(RunState.QUEUED, attempt=number, max_attempts=r._policy.max_attempts,
                      detail=f"Waiting for a free {provider.name} slot: {ahead} ahead")

        injected = False
        try:
            gate.breaker.check()
            async with gate.slots.slot(queued):
                # An ended answer goes on by continuing, even one stopped before its first text
                # (its empty prefix asks anew).
                continuing = bool(prefix) or self.state.is_terminal
                detail = "Continuing from where it stopped" if continuing else f"Asking {provider.label}"
                self.move(
                    RunState.CONTINUING if continuing else RunState.CONNECTING,
                    attempt=number, max_attempts=r._policy.max_attempts,
                    detail=f"{detail} without streaming: {plain}" if plain else detail,
                )
                request = ChatRequest(messages=tuple(context), model=run.model, max_tokens=run.max_tokens,
                                      temperature=run.temperature, prefix=prefix)
                if plain:  # the whole answer at once: no first-token deadline, only the run's own
                    asked = PlainRequest(provider)
                    timeouts = dataclasses.replace(r._timeouts, first_token_s=r._timeouts.total_s)
                else:  # the provider itself unless chaos is on
                    asked, timeouts = r._chaos.provider_for(run.id, provider), r._timeouts
                    injected = asked is not provider  # a fault on purpose says nothing about the path
                end = await stream_attempt(asked, request, timeouts, deadline, self.add_text, attempt)
        except CapReached as reached:  # a whole answer, as far as this run may go: stop reading here
            gate.breaker.record_success()
            attempt.finish(r._clock.now(), "cap")
            return End(RunState.TRUNCATED, reached.detail, finish_reason="length")
        except UpstreamError as exc:
            attempt.finish(r._clock.now(), exc.cause, status=exc.status, message=exc.message)
            if not injected:
                gate.fallback.record(streamed=not plain, cause=exc.cause)
            if isinstance(exc, RetryableError) and not isinstance(exc, CircuitOpen):
                gate.breaker.record_failure()
            raise
        finally:  # whatever ended it (a stop too), its text counts
            self._count_tokens(attempt)
        gate.breaker.record_success()
        gate.fallback.record(streamed=not plain, cause=None)
        attempt.finish(r._clock.now(), "ok")
        if plain and not end.detail:
            end = dataclasses.replace(end, detail=f"Came in one piece: {provider.name} {plain.removeprefix('its ')}")
        return end

    def _count_tokens(self, attempt: Attempt) -> None:
        reported = attempt.record.get("usage_tokens")
        self.tokens += reported if reported is not None else estimate_tokens(self.attempt_chars)

    def _close_open_attempt(self, outcome: str) -> None:
        if self.attempts and "ended_at" not in self.attempts[-1]:
            self.attempts[-1].update({"ended_at": self.r._clock.now().isoformat(), "outcome": outcome})
            if self.attempt is not None and self.attempt.record is self.attempts[-1]:
                self.telemetry.attempt_ended(self.run_row.id, self.run_row.provider, self.attempt)

