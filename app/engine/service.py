"""The engine's front door, shared by the HTTP API and the Reflex UI.

``ChatService`` owns the database, the event log, the runner and the provider, validates
what users send (one set of rules for every entry point), and hands out replays. It has a
lifecycle: ``start()`` opens the database, recovers unfinished runs and starts the log
writer; ``close()`` stops runs and flushes the log. Constructing it does no I/O.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx

from app.engine.attempts import Timeouts
from app.engine.chaos import FAULTS, Chaos, UnknownFault
from app.engine.db import open_database
from app.engine.errors import UpstreamError
from app.engine.events import End, LogEvent
from app.engine.history import History
from app.engine.lifecycle_log import LifecycleLog, install_handler
from app.engine.log import EventLog
from app.engine.metrics import Metrics
from app.engine.models import utcnow
from app.engine.providers import Provider, ProviderRegistry, build_registry
from app.engine.providers.transport import asyncio_transport
from app.engine.retry import RetryPolicy
from app.engine.run_input import (
    MAX_CLIENT_REQUEST_ID_CHARS, MAX_TITLE_CHARS, Conflict, InputError, NotFound, OverLimit, RunRequest, check_settings,
    run_params,
)
from app.engine.runner import GateSettings, Runner, RunnerClock
from app.engine.states import CONTINUABLE_STATES, RunState
from app.engine.store import (
    ConversationNotFound, ConversationSettings, MessageNotFound, NewRun, RunRow, Store,
)
from app.engine.telemetry import StreamWatch, Telemetry
from app.engine.timeline import (
    MAX_BROWSER_TRACES_PER_RUN, BadClientEvents, check_browser_events, support_report, timeline,
)
from app.engine.titles import question_title, suggest_title
from app.engine.tokens import day_start, seconds_until_next_day
from app.settings import Settings, SettingsError

logger = logging.getLogger(__name__)

class ChatService:
    def __init__(self, settings: Settings, provider: Provider | None = None, clock: RunnerClock = RunnerClock()) -> None:
        """``provider``: serve this one provider instead of the configured ones (tests)."""
        self.settings = settings
        self._clock = clock
        self.registry: ProviderRegistry | None = ProviderRegistry([(provider, ())]) if provider else None
        self.store: Store | None = None
        self.history: History | None = None
        self.log: EventLog | None = None
        self.runner: Runner | None = None
        self._http: httpx.AsyncClient | None = None
        self._writer: asyncio.Task | None = None
        self._trace_writes: set[asyncio.Task] = set()
        self._side_work: set[asyncio.Task] = set()  # title suggestions: cancelled at close
        # Metrics on a registry of this service's own; lifecycle lines without message text
        # unless UNBROKEN_LOG_CONTENT is on, and never a key.
        self.telemetry = Telemetry(Metrics(), LifecycleLog(content=settings.log_content, secrets=settings.secrets()))
        try:
            self.chaos = Chaos(settings.chaos, settings.chaos_faults or FAULTS)
        except UnknownFault as exc:
            raise SettingsError(f"UNBROKEN_CHAOS_FAULTS: {exc}") from None

    async def start(self) -> None:
        install_handler()
        engine = await asyncio.to_thread(open_database, self.settings.database_url)
        self.store, self.history = Store(engine), History(engine)
        self.log = EventLog(self.store, self.settings.log_flush_interval_s, self.telemetry)
        self._writer = asyncio.create_task(self.log.run_writer(), name="event-log-writer")
        # No second, hidden gate: the providers' own concurrency limits (gate.py) decide how
        # many streams run; httpx's default of 100 connections made stream 101 wait unseen.
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=self.settings.provider_concurrency)
        self._http = httpx.AsyncClient(
            transport=asyncio_transport(limits=limits),
            timeout=httpx.Timeout(self.settings.read_timeout_s, connect=self.settings.connect_timeout_s),
            limits=limits,
        )
        self.registry = self.registry or build_registry(self.settings, self._http)
        self.runner = Runner(
            self.store, self.history, self.log, self.registry,
            policy=RetryPolicy(
                max_attempts=self.settings.retry_max_attempts,
                base_delay_s=self.settings.retry_base_delay_s,
                max_delay_s=self.settings.retry_max_delay_s,
                budget_s=self.settings.retry_budget_s,
            ),
            timeouts=Timeouts(
                first_token_s=self.settings.first_token_timeout_s,
                idle_s=self.settings.idle_timeout_s,
                total_s=self.settings.run_deadline_s,
            ),
            clock=self._clock,
            gates=GateSettings(
                concurrency=self.settings.provider_concurrency,
                breaker_failures=self.settings.breaker_failures,
                breaker_cooldown_s=self.settings.breaker_cooldown_s,
                streaming=self.settings.upstream_streaming,
                stream_fallback_after=self.settings.stream_fallback_after,
                stream_fallback_s=self.settings.stream_fallback_s,
            ),
            chaos=self.chaos,
            telemetry=self.telemetry,
            on_end=self._after_end,
            budget_left=self._budget_left if self.settings.daily_token_budget else None,
        )
        budget = self.settings.auto_continue_max if self.settings.auto_continue else 0
        recovered = await self.runner.recover(auto_continue_max=budget)
        if recovered:
            logger.info("marked %d unfinished run(s) from a previous process as interrupted", len(recovered))

    async def close(self) -> None:
        if self.runner is not None:
            await self.runner.shutdown()
            self.log.close_feeds()
        for task in self._side_work:
            task.cancel()
        await asyncio.gather(*self._trace_writes, *self._side_work, return_exceptions=True)
        if self._writer is not None:
            self._writer.cancel()
            await asyncio.gather(self._writer, return_exceptions=True)
        if self._http is not None:
            await self._http.aclose()
        if self.store is not None:
            self.store.engine.dispose()

    # -- runs ------------------------------------------------------------------------------

    async def start_run(self, request: RunRequest) -> tuple[RunRow, bool]:
        """Start an answer; the same ``client_request_id`` returns the same run, never a second one."""
        crid = request.client_request_id
        if isinstance(crid, str) and crid:
            existing = await asyncio.to_thread(self.store.run_for_request, crid)
            if existing is not None:  # a resend (double click, retried POST): the same run
                return existing, False
        new = await self._new_run(request)
        await self._check_budget()
        try:
            run, created = await asyncio.to_thread(self.store.create_run, new)
        except ConversationNotFound:
            raise NotFound("conversation") from None
        except MessageNotFound:
            raise NotFound("message") from None
        if created:
            self.telemetry.run_created(run, content=request.content)
            self.runner.start(run)
        return run, created

    async def _new_run(self, request: RunRequest) -> NewRun:
        if not isinstance(request.content, str) or not request.content.strip():
            raise InputError("empty_content", "The message is empty.")
        if len(request.content) > self.settings.max_content_chars:
            raise InputError(
                "content_too_long", f"The message is longer than {self.settings.max_content_chars} characters."
            )
        crid = request.client_request_id
        if not isinstance(crid, str) or not crid.strip() or len(crid) > MAX_CLIENT_REQUEST_ID_CHARS:
            raise InputError(
                "bad_client_request_id",
                f"client_request_id must be a non-empty string of at most {MAX_CLIENT_REQUEST_ID_CHARS} characters.",
            )
        for name in ("conversation_id", "edit_of"):
            if getattr(request, name) is not None and not isinstance(getattr(request, name), str):
                raise InputError(f"bad_{name}", f"{name} must be a string or null.")
        overrides = self.check_settings(
            model=request.model, system_prompt=request.system_prompt, max_tokens=request.max_tokens,
            temperature=request.temperature,
        )
        if request.conversation_id is None:
            if request.edit_of is not None:
                raise InputError("bad_edit_of", "edit_of needs the conversation_id of the question it edits.")
            saved = ConversationSettings()
        else:
            saved = await asyncio.to_thread(self.store.conversation_settings, request.conversation_id)
            if saved is None:
                raise NotFound("conversation")
        return NewRun(
            content=request.content,
            client_request_id=crid,
            conversation_id=request.conversation_id,
            params=run_params(self.registry, self.settings, overrides, saved),
            settings=overrides,
            edit_of=request.edit_of,
        )

    def check_settings(self, **values: object) -> ConversationSettings:
        """Check conversation settings as a user sent them (``run_input.check_settings``)."""
        return check_settings(self.registry, self.settings.max_tokens_cap, **values)

    async def get_run(self, run_id: str) -> RunRow:
        run = await asyncio.to_thread(self.store.get_run, run_id)
        if run is None:
            raise NotFound("run")
        return run

    async def run_view(self, run_id: str) -> dict:
        """``GET /api/runs/{id}``: the run as the contract shows it."""
        run = await self.get_run(run_id)
        text = await asyncio.to_thread(self.store.run_text, run_id)
        return {
            "run_id": run.id,
            "conversation_id": run.conversation_id,
            "state": str(run.state),
            "text": text,
            "last_seq": run.last_seq,
            "finish_reason": run.finish_reason,
            "error": run.error,
            "detail": run.detail,
            "attempts": run.attempts,
            "provider": run.provider,
            "model": run.model,
        }

    async def stop_run(self, run_id: str) -> None:
        """Stop an answer, keeping its text as persisted; 404 for an unknown run."""
        await self.get_run(run_id)
        await self.runner.stop(run_id)

    async def continue_run(self, run_id: str) -> RunRow:
        """Go on with a stopped, truncated or interrupted answer: same run, same log."""
        run = await self.get_run(run_id)
        if run.state not in CONTINUABLE_STATES or self.runner.is_running(run_id):
            raise Conflict("not_continuable", f"A {run.state} answer cannot be continued.")
        await self._check_budget()
        text = await asyncio.to_thread(self.store.run_text, run_id)
        self.runner.start(run, text_so_far=text)
        return run

    async def retry_run(self, run_id: str, client_request_id: str | None = None) -> tuple[RunRow, bool]:
        """Retry: while the run waits between attempts, its next attempt starts now (same run);
        once it has ended, a new answer to the same question starts (a new run)."""
        run = await self.get_run(run_id)
        if not run.state.is_terminal:
            if self.runner.retry_now(run_id):
                return run, False
            raise Conflict("not_retryable", f"A {run.state} answer cannot be retried; stop it first.")
        crid = client_request_id or f"retry-{uuid.uuid4().hex}"
        if not isinstance(crid, str) or len(crid) > MAX_CLIENT_REQUEST_ID_CHARS:
            raise InputError("bad_client_request_id", "client_request_id must be a short string.")
        await self._check_budget()
        new, created = await asyncio.to_thread(self.store.create_retry, run, crid)
        if created:
            self.telemetry.run_created(new, retry_of=run.id)
            self.runner.start(new)
        return new, created

    # -- conversations -----------------------------------------------------------------------

    async def update_conversation(self, conversation_id: str, changes: dict) -> None:
        """Rename and/or change settings: ``title`` and the ConversationSettings fields; a
        setting set to None goes back to the default. Unknown keys are refused."""
        unknown = set(changes) - {"title", *ConversationSettings.__dataclass_fields__}
        if unknown:
            raise InputError("unknown_field", f"Unknown field(s): {', '.join(sorted(map(str, unknown)))}.")
        values = {}
        if "title" in changes:
            title = changes["title"]
            if not isinstance(title, str) or not title.strip() or len(title.strip()) > MAX_TITLE_CHARS:
                raise InputError("bad_title", f"A title needs 1 to {MAX_TITLE_CHARS} characters.")
            values["title"] = title.strip()
        settings = {name: value for name, value in changes.items() if name != "title"}
        checked = dataclasses.asdict(self.check_settings(**settings))
        values.update({name: checked[name] for name in settings})
        if not values:
            raise InputError("nothing_to_change", "Send at least one of title, model, system_prompt, max_tokens, "
                                                  "temperature.")
        if not await asyncio.to_thread(self.store.update_conversation, conversation_id, **values):
            raise NotFound("conversation")

    async def conversation_view(self, conversation_id: str) -> dict:
        """``GET /api/conversations/{id}``: its settings and the branch on screen."""
        summary = await asyncio.to_thread(self.history.conversation, conversation_id)
        if summary is None:
            raise NotFound("conversation")
        settings = await asyncio.to_thread(self.store.conversation_settings, conversation_id)
        messages = await asyncio.to_thread(self.history.messages, conversation_id)
        return {
            "id": summary.id,
            "title": summary.title,
            "updated_at": summary.updated_at.isoformat(),
            "settings": dataclasses.asdict(settings),
            "messages": [
                {
                    "id": m.id, "role": m.role, "content": m.content, "run_id": m.run_id,
                    "run_state": str(m.run_state) if m.run_state else None,
                    "version": m.version, "versions": m.versions,
                    "previous_version_id": m.previous_version_id, "next_version_id": m.next_version_id,
                }
                for m in messages
            ],
        }

    async def show_branch(self, conversation_id: str, message_id: object) -> None:
        """Show the branch through ``message_id`` (one of the versions of a turn)."""
        if not isinstance(message_id, str):
            raise InputError("bad_message_id", "message_id must be a string.")
        if not await asyncio.to_thread(self.store.show_branch, conversation_id, message_id):
            raise NotFound("message")

    async def delete_conversation(self, conversation_id: str) -> None:
        """Stop its unfinished answers, then delete it with everything it holds."""
        for run_id in await asyncio.to_thread(self.store.conversation_run_ids, conversation_id):
            await self.runner.stop(run_id)
        await self.log.durable()
        if not await asyncio.to_thread(self.store.delete_conversation, conversation_id):
            raise NotFound("conversation")

    # -- the daily token budget (tokens.py) -------------------------------------------------

    def _budget_left(self) -> int | None:
        """Blocking: the tokens today's budget still allows (never below 0), or None without one."""
        budget = self.settings.daily_token_budget
        if not budget:
            return None
        return max(0, budget - self.store.tokens_since(day_start(datetime.now(UTC))))

    async def _check_budget(self) -> None:
        if self.settings.daily_token_budget and await asyncio.to_thread(self._budget_left) == 0:
            raise OverLimit(
                "token_budget",
                f"Today's token budget ({self.settings.daily_token_budget} tokens) is used up; "
                "it renews at 00:00 UTC.",
                seconds_until_next_day(datetime.now(UTC)),
            )

    # -- titles ----------------------------------------------------------------------------

    def _after_end(self, run: RunRow, end: End) -> None:
        if self.settings.titles == "model" and end.state == RunState.COMPLETE:
            task = asyncio.create_task(self._suggest_title(run), name=f"title:{run.conversation_id}")
            self._side_work.add(task)
            task.add_done_callback(self._side_work.discard)

    async def _suggest_title(self, run: RunRow) -> None:
        """Once an answer is complete: the model's title for its conversation, while the title
        is still the question's words (see ``titles``). Best effort: failures are logged."""
        provider = self.registry.providers.get(run.provider)
        first = await asyncio.to_thread(self.store.first_question, run.conversation_id)
        if provider is None or provider.is_demo or not provider.answers_whole or first is None:
            return
        title, question = first
        if title != question_title(question):
            return  # renamed, or suggested already
        try:
            suggested = await suggest_title(provider, run.model, question)
        except UpstreamError as exc:
            logger.warning("no title suggested for conversation %s: %s", run.conversation_id, exc.message)
            return
        if suggested:
            await asyncio.to_thread(self.store.replace_title, run.conversation_id, title, suggested)

    # -- what happened to a run -------------------------------------------------------------

    def trace(self, run_id: str, kind: str, data: dict) -> None:
        """Note a server-side fact about a run (an event stream opened or closed) without
        waiting: written in the background, best effort, never in the way of delivery."""
        task = asyncio.create_task(asyncio.to_thread(
            self.store.add_traces, run_id, "server", [(utcnow(), kind, data)]
        ))
        self._trace_writes.add(task)
        task.add_done_callback(self._trace_written)

    def watch_stream(self, run_id: str, after_seq: int, client: str | None) -> StreamWatch:
        """An event stream opens: noted in the run's traces, the metrics and the lifecycle log
        now, and again when the caller reports it ``closed``."""
        return self.telemetry.stream_opened(run_id, after_seq, client,
                                            lambda kind, data: self.trace(run_id, kind, data))

    def _trace_written(self, task: asyncio.Task) -> None:
        self._trace_writes.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.warning("could not store a run trace: %s", task.exception())

    async def record_browser_events(self, run_id: str, report: dict) -> int:
        """Store what a browser reports about its connection to a run (``timeline.check_browser_events``);
        returns how many were kept (a run keeps at most MAX_BROWSER_TRACES_PER_RUN of them)."""
        await self.get_run(run_id)
        try:
            checked = check_browser_events(report, received_at=utcnow())
        except BadClientEvents as exc:
            raise InputError("bad_events", str(exc)) from None
        return await asyncio.to_thread(
            self.store.add_traces, run_id, "browser", checked, MAX_BROWSER_TRACES_PER_RUN
        )

    async def run_timeline(self, run_id: str) -> list[dict]:
        run = await self.get_run(run_id)
        return timeline(run, await asyncio.to_thread(self.store.traces, run_id))

    async def run_report(self, run_id: str) -> dict:
        run = await self.get_run(run_id)
        traces = await asyncio.to_thread(self.store.traces, run_id)
        provider = self.registry.providers.get(run.provider)
        label = provider.label if provider else f"{run.provider} (no longer configured)"
        return support_report(run, traces, label, self.settings.secrets())

    def set_chaos(self, body: dict) -> dict:
        """Switch chaos mode: ``{"enabled": bool, "faults": [name, …] (optional)}``."""
        unknown = body.keys() - {"enabled", "faults"}
        if unknown:
            raise InputError("unknown_field", f"Unknown field(s): {', '.join(sorted(unknown))}.")
        enabled, faults = body.get("enabled"), body.get("faults")
        if not isinstance(enabled, bool):
            raise InputError("bad_chaos", "enabled must be true or false.")
        if faults is not None and not (isinstance(faults, list) and all(isinstance(f, str) for f in faults)):
            raise InputError("bad_chaos", "faults must be a list of fault names.")
        try:
            self.chaos.configure(enabled, faults)
        except UnknownFault as exc:
            raise InputError("bad_chaos", str(exc)) from None
        logger.warning("chaos mode %s (faults: %s)", "on" if enabled else "off", ", ".join(self.chaos.faults))
        return self.chaos.view()

    def is_live(self, run_id: str) -> bool:
        """True while a producer in this process is appending to the run's log."""
        return self.log.feed(run_id) is not None

    def follow(self, run_id: str, after: int, tick_s: float | None = None) -> AsyncIterator[list[LogEvent]]:
        """The run's events after ``after``, replayed then live; ``[]`` every ``tick_s``
        (default: the heartbeat interval)."""
        return self.log.follow(run_id, after, tick_s=tick_s or self.settings.heartbeat_interval_s)
