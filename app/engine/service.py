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

import httpx

from app.engine.attempts import Timeouts
from app.engine.db import open_database
from app.engine.events import LogEvent
from app.engine.history import History
from app.engine.log import EventLog
from app.engine.providers import Provider, ProviderRegistry, UnknownModel, build_registry
from app.engine.retry import RetryPolicy
from app.engine.runner import GateSettings, Runner, RunnerClock
from app.engine.states import CONTINUABLE_STATES
from app.engine.store import ConversationNotFound, NewRun, RunRow, Store
from app.settings import Settings

logger = logging.getLogger(__name__)

MAX_CLIENT_REQUEST_ID_CHARS = 200
MAX_TITLE_CHARS = 200


class InputError(ValueError):
    """Input a user or client must fix; ``code`` is machine-readable, the message is for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class NotFound(LookupError):
    pass


class Conflict(RuntimeError):
    """The request does not fit the resource's current state (HTTP 409)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclasses.dataclass(frozen=True)
class RunRequest:
    content: str
    client_request_id: str
    conversation_id: str | None = None
    model: str | None = None
    max_tokens: int | None = None


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

    async def start(self) -> None:
        engine = await asyncio.to_thread(open_database, self.settings.database_url)
        self.store, self.history = Store(engine), History(engine)
        self.log = EventLog(self.store, self.settings.log_flush_interval_s)
        self._writer = asyncio.create_task(self.log.run_writer(), name="event-log-writer")
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(self.settings.read_timeout_s, connect=self.settings.connect_timeout_s)
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
            ),
        )
        budget = self.settings.auto_continue_max if self.settings.auto_continue else 0
        recovered = await self.runner.recover(auto_continue_max=budget)
        if recovered:
            logger.info("marked %d unfinished run(s) from a previous process as interrupted", len(recovered))

    async def close(self) -> None:
        if self.runner is not None:
            await self.runner.shutdown()
            self.log.close_feeds()
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
        new = self._validate(request)
        try:
            run, created = await asyncio.to_thread(self.store.create_run, new)
        except ConversationNotFound:
            raise NotFound("conversation") from None
        if created:
            self.runner.start(run)
        return run, created

    def _validate(self, request: RunRequest) -> NewRun:
        limits = self.settings
        if not isinstance(request.content, str) or not request.content.strip():
            raise InputError("empty_content", "The message is empty.")
        if len(request.content) > limits.max_content_chars:
            raise InputError(
                "content_too_long", f"The message is longer than {limits.max_content_chars} characters."
            )
        crid = request.client_request_id
        if not isinstance(crid, str) or not crid.strip() or len(crid) > MAX_CLIENT_REQUEST_ID_CHARS:
            raise InputError(
                "bad_client_request_id",
                f"client_request_id must be a non-empty string of at most {MAX_CLIENT_REQUEST_ID_CHARS} characters.",
            )
        if request.conversation_id is not None and not isinstance(request.conversation_id, str):
            raise InputError("bad_conversation_id", "conversation_id must be a string or null.")
        if request.model is not None and (not isinstance(request.model, str) or not request.model.strip()):
            raise InputError("bad_model", "model must be a non-empty string or null.")
        try:
            choice = self.registry.resolve(request.model)
        except UnknownModel as exc:
            raise InputError("unknown_model", str(exc)) from None
        max_tokens = request.max_tokens
        if max_tokens is not None and (
            isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or not 1 <= max_tokens <= limits.max_tokens_cap
        ):
            raise InputError("bad_max_tokens", f"max_tokens must be a whole number from 1 to {limits.max_tokens_cap}.")
        return NewRun(
            content=request.content,
            client_request_id=crid,
            conversation_id=request.conversation_id,
            provider=choice.provider,
            model=choice.model,
            max_tokens=max_tokens,
        )

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
        new, created = await asyncio.to_thread(self.store.create_retry, run, crid)
        if created:
            self.runner.start(new)
        return new, created

    # -- conversations -----------------------------------------------------------------------

    async def rename_conversation(self, conversation_id: str, title: object) -> None:
        if not isinstance(title, str) or not title.strip() or len(title.strip()) > MAX_TITLE_CHARS:
            raise InputError("bad_title", f"A title needs 1 to {MAX_TITLE_CHARS} characters.")
        if not await asyncio.to_thread(self.store.rename_conversation, conversation_id, title.strip()):
            raise NotFound("conversation")

    async def delete_conversation(self, conversation_id: str) -> None:
        """Stop its unfinished answers, then delete it with everything it holds."""
        for run_id in await asyncio.to_thread(self.store.conversation_run_ids, conversation_id):
            await self.runner.stop(run_id)
        await self.log.durable()
        if not await asyncio.to_thread(self.store.delete_conversation, conversation_id):
            raise NotFound("conversation")

    def is_live(self, run_id: str) -> bool:
        """True while a producer in this process is appending to the run's log."""
        return self.log.feed(run_id) is not None

    def follow(self, run_id: str, after: int, tick_s: float | None = None) -> AsyncIterator[list[LogEvent]]:
        """The run's events after ``after``, replayed then live; ``[]`` every ``tick_s``
        (default: the heartbeat interval)."""
        return self.log.follow(run_id, after, tick_s=tick_s or self.settings.heartbeat_interval_s)
