"""The engine's front door, shared by the HTTP API and the Reflex UI.

``ChatService`` owns the database, the event log, the runner and the provider, validates
what users send (one set of rules for every entry point), and hands out replays. It has a
lifecycle: ``start()`` opens the database, recovers unfinished runs and starts the log
writer; ``close()`` stops runs and flushes the log. Constructing it does no I/O.

Every call on behalf of somebody takes their ``Actor`` first: a conversation or run of
another user is ``NotFound``, exactly like an id that does not exist. ``settings`` is the
configuration with an admin's provider settings laid over it (``apply_provider_settings``).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator

import httpx

from app.engine.accounts import Accounts, Actor, UserRow
from app.engine.attempts import Timeouts
from app.engine.chaos import FAULTS, Chaos, UnknownFault
from app.engine.conversations import Conversations
from app.engine.db import open_database
from app.engine.errors import UpstreamError
from app.engine.events import End, LogEvent
from app.engine.fanout import RedisFanOut
from app.engine.history import History
from app.engine.leases import Leases, Worker, held, worker_id
from app.engine.lifecycle_log import LifecycleLog, install_handler
from app.engine.limits import RunLimits
from app.engine.log import EventLog
from app.engine.login_throttle import LoginThrottle
from app.engine.metrics import Metrics, shared_folder
from app.engine.provider_settings import KEY_PREFIX, PROVIDERS, check_changes, effective, views, with_changes
from app.engine.providers import Provider, ProviderRegistry, build_registry
from app.engine.providers.transport import asyncio_transport
from app.engine.retry import RetryPolicy
from app.engine.run_records import RunRecords
from app.engine.run_input import (
    MAX_CLIENT_REQUEST_ID_CHARS, Conflict, Forbidden, InputError, NotFound, RunRequest, TooLarge,
    check_settings, run_params,
)
from app.engine.runner import GateSettings, Runner, RunnerClock
from app.engine.states import CONTINUABLE_STATES, RunState
from app.engine.rows import ConversationSettings, NewRun, RunRow
from app.engine.store import ConversationNotFound, MessageNotFound, Store
from app.engine.telemetry import Telemetry
from app.engine.titles import question_title, suggest_title
from app.engine.user_changes import check_user_changes
from app.engine.user_lock import UserLocks
from app.settings import Settings, SettingsError

logger = logging.getLogger(__name__)

class ChatService:
    def __init__(self, settings: Settings, provider: Provider | None = None, clock: RunnerClock = RunnerClock()) -> None:
        """``provider``: serve this one provider instead of the configured ones (tests)."""
        self.settings = settings  # the configuration with an admin's provider settings over it
        self._configured = settings
        self._fixed_provider = provider is not None
        self._provider_lock = asyncio.Lock()
        self._clock = clock
        self.registry: ProviderRegistry | None = ProviderRegistry([(provider, ())]) if provider else None
        self.store: Store | None = None
        self.history: History | None = None
        self.accounts: Accounts | None = None
        self.login_throttle: LoginThrottle | None = None
        self.limits: RunLimits | None = None
        self.conversations: Conversations | None = None
        self.records: RunRecords | None = None
        # Checking a user's limits and starting their answer happen under the user's lock, so
        # two requests at once (on any workers) cannot both pass a limit only one of them fits.
        self.user_locks: UserLocks | None = None
        self.log: EventLog | None = None
        self.runner: Runner | None = None
        # This process as one of the instance's workers (leases.py); with REDIS_URL, several
        # share the database and pass live events and requests through Redis (fanout.py).
        # Named in start(), by the process that serves: Reflex builds the app (and so this
        # service) once in granian's supervisor, then forks its workers from it.
        self.worker: Worker | None = None
        self.leases: Leases | None = None
        self.fanout: RedisFanOut | None = None
        self._keeper: asyncio.Task | None = None
        self._http: httpx.AsyncClient | None = None
        self._writer: asyncio.Task | None = None
        self._side_work: set[asyncio.Task] = set()  # title suggestions, metrics sharing: cancelled at close
        # Metrics on a registry of this service's own; lifecycle lines without message text
        # unless UNBROKEN_LOG_CONTENT is on, and never a key.
        self.secrets = settings.secrets()  # every key configured or entered since start: masked
        self.telemetry = Telemetry(Metrics(), LifecycleLog(content=settings.log_content, secrets=self.secrets))
        try:
            self.chaos = Chaos(settings.chaos, settings.chaos_faults or FAULTS)
        except UnknownFault as exc:
            raise SettingsError(f"UNBROKEN_CHAOS_FAULTS: {exc}") from None

    async def start(self) -> None:
        install_handler()
        self.worker = Worker(worker_id(shared=bool(self.settings.redis_url)), self.settings.run_lease_s)
        engine = await asyncio.to_thread(open_database, self.settings.database_url)
        self.store, self.history = Store(engine, self.worker), History(engine)
        self.leases = Leases(engine, self.worker)
        self.accounts = Accounts(engine, self.settings.signup, self.settings.session_days)
        self.login_throttle = LoginThrottle(engine, self.settings.login_max_failures, self.settings.login_lockout_s)
        self.limits = RunLimits(self.store, self.accounts, self.settings)
        self.user_locks = UserLocks(engine)
        if self.settings.redis_url:
            self.fanout = RedisFanOut(self.settings.redis_url, self.worker.id, self._on_request)
            await self.fanout.start()
        self.log = EventLog(self.store, self.settings.log_flush_interval_s, self.telemetry, remote=self.fanout)
        self._writer = asyncio.create_task(self.log.run_writer(), name="event-log-writer")
        metrics_folder = shared_folder()
        if metrics_folder is not None:  # several workers: each one's /metrics shows them all
            self._side_work.add(asyncio.create_task(self.telemetry.metrics.keep_shared(metrics_folder),
                                                    name="metrics-sharing"))
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
            budget_left=self.limits.budget_left,
            leases=self.leases,
            ask_owner=self.fanout.ask if self.fanout else None,
        )
        self.conversations = Conversations(self.store, self.history, self.runner, self.log, self.check_settings)
        self.records = RunRecords(self.store, self.telemetry, self._provider_label, lambda: self.secrets)
        await self.apply_provider_settings()
        budget = self.settings.auto_continue_max if self.settings.auto_continue else 0
        recovered = await self.runner.recover(auto_continue_max=budget)
        if recovered:
            logger.info("marked %d unfinished run(s) from a previous process as interrupted", len(recovered))
        self._keeper = asyncio.create_task(self.runner.keep_leases(auto_continue_max=budget), name="run-leases")

    async def close(self) -> None:
        if self._keeper is not None:
            self._keeper.cancel()
            await asyncio.gather(self._keeper, return_exceptions=True)
        if self.runner is not None:
            await self.runner.shutdown()
            self.log.close_feeds()
        for task in self._side_work:
            task.cancel()
        await asyncio.gather(*self._side_work, return_exceptions=True)
        if self.records is not None:
            await self.records.close()
        if self._writer is not None:
            self._writer.cancel()
            await asyncio.gather(self._writer, return_exceptions=True)
        if self._http is not None:
            await self._http.aclose()
        if self.fanout is not None:
            await self.fanout.close()
        if self.store is not None:
            self.store.engine.dispose()

    # -- runs ------------------------------------------------------------------------------

    async def start_run(self, actor: Actor, request: RunRequest) -> tuple[RunRow, bool]:
        """Start an answer; the same ``client_request_id`` returns the same run, never a second
        one. Refused (``OverLimit``) before anything goes upstream when a limit is reached."""
        crid = request.client_request_id
        if isinstance(crid, str) and crid:
            existing = await asyncio.to_thread(self.store.run_for_request, actor.id, crid)
            if existing is not None:  # a resend (double click, retried POST): the same run
                return existing, False
        new = await self._new_run(actor, request)

        def check_and_create() -> tuple[RunRow, bool]:
            self.limits.check_new_message(actor.id)
            return self.store.create_run(new)

        try:
            run, created = await self.user_locks.one_at_a_time(actor.id, check_and_create)
        except ConversationNotFound:
            raise NotFound("conversation") from None
        except MessageNotFound:
            raise NotFound("message") from None
        if created:
            self.telemetry.run_created(run, content=request.content)
            self.runner.start(run)
        return run, created

    async def _new_run(self, actor: Actor, request: RunRequest) -> NewRun:
        if not isinstance(request.content, str) or not request.content.strip():
            raise InputError("empty_content", "The message is empty.")
        if len(request.content) > self.settings.max_content_chars:
            raise TooLarge(
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
            saved = await asyncio.to_thread(self.store.conversation_settings, request.conversation_id, actor.id)
            if saved is None:
                raise NotFound("conversation")
        return NewRun(
            user_id=actor.id,
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

    async def get_run(self, actor: Actor, run_id: str) -> RunRow:
        """The actor's run; ``NotFound`` for an unknown id and for another user's run alike."""
        run = await asyncio.to_thread(self.store.get_run, run_id)
        if run is None or run.user_id != actor.id:
            raise NotFound("run")
        return run

    async def run_view(self, actor: Actor, run_id: str) -> dict:
        """``GET /api/runs/{id}``: the run as the contract shows it."""
        run = await self.get_run(actor, run_id)
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

    async def stop_run(self, actor: Actor, run_id: str) -> None:
        """Stop an answer, keeping its text as persisted; 404 for an unknown run."""
        await self.get_run(actor, run_id)
        try:
            await self.runner.stop(run_id)
        except TimeoutError:
            raise Conflict("not_stopped", "The worker streaming this answer did not stop it in time; try again.") \
                from None

    async def continue_run(self, actor: Actor, run_id: str) -> RunRow:
        """Go on with a stopped, truncated or interrupted answer: same run, same log."""
        run = await self.get_run(actor, run_id)
        if run.state not in CONTINUABLE_STATES or self.runner.is_running(run_id):
            raise Conflict("not_continuable", f"A {run.state} answer cannot be continued.")

        def check_and_claim() -> bool:
            self.limits.check_continue(actor.id)
            # Claimed in the database: of two Continues at once, on any workers, one wins.
            return self.leases.take_ended(run_id)

        if not await self.user_locks.one_at_a_time(actor.id, check_and_claim):
            raise Conflict("not_continuable", "This answer is being continued already.")
        run = await asyncio.to_thread(self.store.get_run, run_id)
        text = await asyncio.to_thread(self.store.run_text, run_id)
        self.runner.start(run, text_so_far=text)
        return run

    async def retry_run(self, actor: Actor, run_id: str, client_request_id: str | None = None) -> tuple[RunRow, bool]:
        """Retry: while the run waits between attempts, its next attempt starts now (same run);
        once it has ended, a new answer to the same question starts (a new run)."""
        run = await self.get_run(actor, run_id)
        if not run.state.is_terminal:
            if self.runner.retry_now(run_id):
                return run, False
            if run.state == RunState.RETRYING and held(run) and self.fanout is not None:
                await self.fanout.ask(run.owner, "retry_now", run_id)  # another worker answers it
                return run, False
            raise Conflict("not_retryable", f"A {run.state} answer cannot be retried; stop it first.")
        crid = client_request_id or f"retry-{uuid.uuid4().hex}"
        if not isinstance(crid, str) or len(crid) > MAX_CLIENT_REQUEST_ID_CHARS:
            raise InputError("bad_client_request_id", "client_request_id must be a short string.")
        existing = await asyncio.to_thread(self.store.run_for_request, actor.id, crid)
        if existing is not None:
            return existing, False

        def check_and_create() -> tuple[RunRow, bool]:
            self.limits.check_new_message(actor.id)
            return self.store.create_retry(run, crid)

        new, created = await self.user_locks.one_at_a_time(actor.id, check_and_create)
        if created:
            self.telemetry.run_created(new, retry_of=run.id)
            self.runner.start(new)
        return new, created

    def _provider_label(self, name: str) -> str:
        provider = self.registry.providers.get(name)
        return provider.label if provider else f"{name} (no longer configured)"

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

    # -- what admins change --------------------------------------------------------------

    async def apply_provider_settings(self, changes: dict[str, str | None] | None = None) -> None:
        """An admin's provider settings (``provider_settings``) over the configuration, for the
        next answers; with ``changes``, those are written first — only once the providers they
        make can be built (else ``InputError`` and nothing is written)."""
        async with self._provider_lock:
            stored = with_changes(await asyncio.to_thread(self.accounts.instance_settings, KEY_PREFIX),
                                  changes or {})
            settings = effective(self._configured, stored)
            try:
                registry = self.registry if self._fixed_provider else build_registry(settings, self._http)
            except SettingsError as exc:
                if changes is not None:
                    raise InputError("bad_provider_settings", str(exc)) from None
                logger.error("the admin's provider settings do not fit the configuration (%s); using the "
                             "configuration's", exc)
                return
            for key, value in (changes or {}).items():
                await asyncio.to_thread(self.accounts.set_setting, key, value)
            self.settings, self.registry = settings, registry
            self.runner.use_registry(registry)
            self.secrets = tuple(dict.fromkeys((*self.secrets, *settings.secrets())))
            self.telemetry.log.mask(self.secrets)
        if changes and self.fanout is not None:  # the other workers read them again
            await self.fanout.tell_all("providers_changed")

    async def provider_views(self, actor: Actor) -> list[dict]:
        """Each provider as an admin sees it (``provider_settings.views``: never a key)."""
        if not actor.is_admin:
            raise Forbidden("Only an admin can see the provider settings.")
        return views(self.settings, await asyncio.to_thread(self.accounts.instance_settings, KEY_PREFIX))

    async def set_provider(self, actor: Actor, provider: str, body: dict) -> list[dict]:
        """An admin sets a provider's key, base URL or models (``provider_settings.check_changes``)."""
        if not actor.is_admin:
            raise Forbidden("Only an admin can change the providers.")
        if provider not in PROVIDERS:
            raise NotFound("provider")
        await self.apply_provider_settings(check_changes(provider, body))
        return await self.provider_views(actor)

    async def update_user(self, actor: Actor, user_id: str, changes: dict) -> UserRow:
        """An admin disables, enables, promotes or limits a user (``user_changes``)."""
        if not actor.is_admin:
            raise Forbidden("Only an admin can change users.")
        row = await asyncio.to_thread(self.accounts.update_user, user_id,
                                      **check_user_changes(actor, user_id, changes))
        if row is None:
            raise NotFound("user")
        return row

    def set_chaos(self, actor: Actor, body: dict) -> dict:
        """Switch chaos mode (admins only): ``{"enabled": bool, "faults": [name, …] (optional)}``."""
        if not actor.is_admin:
            raise Forbidden("Only an admin can switch chaos mode.")
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

    def is_live(self, run: RunRow) -> bool:
        """True while a producer (here or in another worker) may append to the run's log."""
        return self.log.feed(run.id) is not None or held(run)

    async def _on_request(self, action: str, run_id: str | None) -> None:
        """Another worker passes on a user's request for a run this one answers, or tells every
        worker that an admin changed the providers."""
        if action == "providers_changed":
            await self.apply_provider_settings()
            return
        if not self.runner.is_running(run_id):
            return  # it ended, or moved on: the asking worker sees that in the database
        if action == "stop":
            await self.runner.stop(run_id)
        else:
            self.runner.retry_now(run_id)

    def follow(self, run_id: str, after: int, tick_s: float | None = None) -> AsyncIterator[list[LogEvent]]:
        """The run's events after ``after``, replayed then live; ``[]`` every ``tick_s``
        (default: the heartbeat interval)."""
        return self.log.follow(run_id, after, tick_s=tick_s or self.settings.heartbeat_interval_s)
