"""The chat page's Reflex state: the conversation list, the open conversation's messages and
what the composer sends. Coarse facts only — answer text streams outside state.

Every event first finds out who is asking (``_signed_in``: ``signed_in.event_actor``, from
the headers of the page's websocket handshake, by the same rule as the HTTP API); a signed-out
page is sent to /login, and every engine call carries the actor, so another user's
conversation reads as one that does not exist.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import Awaitable
from typing import TypeVar

import reflex as rx

from app.engine.accounts import Actor
from app.engine.run_input import Forbidden, InputError, NotFound, OverLimit, RunRequest
from app.runtime import chat_service
from app.ui.signed_in import SIGN_IN, event_actor


@dataclasses.dataclass
class ConversationItem:
    id: str
    title: str


@dataclasses.dataclass
class MessageItem:
    id: str
    role: str
    content: str
    run_id: str
    run_state: str
    demo: bool
    detail: str
    last_seq: int
    version: int
    versions: int
    previous_version_id: str
    next_version_id: str


@dataclasses.dataclass
class ModelItem:
    id: str
    label: str


T = TypeVar("T")


def _text(value: object) -> str:
    return "" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


def _parse(text: object, kind: type, message: str):
    """A number typed into the settings form; blank means the default (None)."""
    text = str(text or "").strip()
    if not text:
        return None
    try:
        return kind(text)
    except ValueError:
        raise InputError("bad_setting", message) from None

GONE_NOTICE = "This conversation does not exist (or was deleted)."


class ChatState(rx.State):
    conversations: list[ConversationItem] = []
    messages: list[MessageItem] = []
    current_id: str = ""
    title: str = ""
    notice: str = ""
    is_demo: bool = False
    user_name: str = ""
    is_admin: bool = False
    auth_mode: str = "none"
    chaos_on: bool = False  # faults are being injected on purpose (read when the page loads)
    models: list[ModelItem] = []
    model: str = ""
    heartbeat_ms: int = 15000
    # The client_request_id the composer sends next; renewed after each accepted send, so a
    # double click or a resent event carries the same id and never starts a second answer.
    draft_id: str = ""
    search: str = ""
    renaming: bool = False
    confirming_delete: bool = False
    # The question being edited (its id), to be resent as a new branch.
    editing_id: str = ""
    # The open conversation's settings as the form shows them ("" = the configured default);
    # before the first message, the settings the new conversation will start with.
    settings_open: bool = False
    system_prompt: str = ""
    max_tokens: str = ""
    temperature: str = ""
    # The configured defaults, shown as placeholders.
    default_system_prompt: str = ""
    default_max_tokens: str = ""
    default_temperature: str = ""

    async def _signed_in(self) -> Actor | None:
        """Who sent this event (``signed_in.event_actor``)."""
        return await event_actor(self.router)

    def _route_conversation_id(self) -> str:
        parts = self.router.url.path.strip("/").split("/")
        return parts[1] if len(parts) == 2 and parts[0] == "c" else ""

    @rx.event
    async def load(self):
        """on_load of both pages: read the list and, on /c/<id>, that conversation."""
        service = chat_service()
        actor = await self._signed_in()
        if actor is None:
            return rx.redirect(SIGN_IN)
        self.user_name, self.is_admin, self.auth_mode = actor.name, actor.is_admin, service.settings.auth
        registry = service.registry
        self.is_demo = registry.has_demo
        self.chaos_on = service.chaos.enabled
        self.models = [ModelItem(m.id, m.label) for m in registry.models]
        if self.model not in {m.id for m in registry.models}:
            self.model = registry.default.id
        self.heartbeat_ms = int(service.settings.heartbeat_interval_s * 1000)
        self.default_system_prompt = service.settings.system_prompt
        self.default_max_tokens = _text(service.settings.default_max_tokens)
        self.default_temperature = _text(service.settings.default_temperature)
        self.notice = self.editing_id = ""
        self.renaming = self.confirming_delete = self.settings_open = False
        self.draft_id = self.draft_id or uuid.uuid4().hex
        self.current_id = self._route_conversation_id()
        if self.current_id:
            await self._load_settings(actor)
        else:  # a new chat starts from the defaults
            self.system_prompt = self.max_tokens = self.temperature = ""
        await self._refresh(actor)

    async def _load_settings(self, actor: Actor) -> None:
        saved = await asyncio.to_thread(chat_service().store.conversation_settings, self.current_id, actor.id)
        if saved is None:
            return  # _refresh says it is gone
        if saved.model in {m.id for m in self.models}:
            self.model = saved.model
        self.system_prompt = saved.system_prompt or ""
        self.max_tokens, self.temperature = _text(saved.max_tokens), _text(saved.temperature)

    @rx.event
    async def refresh(self, _new_run_id: str = ""):
        """Re-read the open conversation (a retry added an answer)."""
        actor = await self._signed_in()
        if actor is None:
            return rx.redirect(SIGN_IN)
        await self._refresh(actor)

    async def _refresh(self, actor: Actor) -> None:
        history = chat_service().history
        summaries = await asyncio.to_thread(history.conversations, actor.id, self.search)
        self.conversations = [ConversationItem(c.id, c.title) for c in summaries]
        if not self.current_id:
            self.title, self.messages = "", []
            return
        conversation = await asyncio.to_thread(history.conversation, self.current_id, actor.id)
        if conversation is None:
            self.title, self.messages = "", []
            self.notice = GONE_NOTICE
            return
        views = await asyncio.to_thread(history.messages, self.current_id, actor.id)
        self.title = conversation.title
        self.messages = [
            MessageItem(v.id, v.role, v.content, v.run_id or "", str(v.run_state or ""), v.provider == "demo",
                        v.detail, v.last_seq, v.version, v.versions, v.previous_version_id or "",
                        v.next_version_id or "")
            for v in views
        ]

    @rx.event
    async def send(self, form: dict):
        actor = await self._signed_in()
        if actor is None:
            return rx.redirect(SIGN_IN)
        new_conversation = {}
        if not self.current_id:  # it starts with the settings chosen before the first message
            ok, settings = self._form_settings({"system_prompt": self.system_prompt, "max_tokens": self.max_tokens,
                                                "temperature": self.temperature})
            if not ok:
                return
            new_conversation = settings
        request = RunRequest(
            content=form.get("content", ""),
            client_request_id=form.get("client_request_id") or self.draft_id or uuid.uuid4().hex,
            conversation_id=self.current_id or None,
            model=form.get("model") or None,
            **new_conversation,
        )
        return await self._start(actor, request)

    @rx.event
    async def send_edit(self, form: dict):
        """Resend an edited question: a new branch beside the original, which stays reachable."""
        actor = await self._signed_in()
        if actor is None:
            return rx.redirect(SIGN_IN)
        request = RunRequest(
            content=form.get("content", ""),
            client_request_id=form.get("client_request_id") or self.draft_id or uuid.uuid4().hex,
            conversation_id=self.current_id or None,
            model=self.model or None,
            edit_of=self.editing_id or None,
        )
        return await self._start(actor, request)

    async def _start(self, actor: Actor, request: RunRequest):
        ok, started = await self._engine(chat_service().start_run(actor, request))
        if not ok:
            return None
        self.draft_id = uuid.uuid4().hex
        self.editing_id = ""
        self.model = request.model or self.model
        if not self.current_id:
            return rx.redirect(f"/c/{started[0].conversation_id}")
        await self._refresh(actor)
        return None

    @rx.event
    def start_edit(self, message_id: str):
        self.editing_id = message_id

    @rx.event
    def cancel_edit(self):
        self.editing_id = ""

    @rx.event
    async def show_version(self, message_id: str):
        """Show another version of a turn, with the branch that follows it."""
        actor = await self._signed_in()
        if actor is None:
            return rx.redirect(SIGN_IN)
        if message_id and (await self._engine(chat_service().conversations.show_branch(actor, self.current_id, message_id)))[0]:
            await self._refresh(actor)

    @rx.event
    def new_chat(self):
        return rx.redirect("/")

    # -- settings --------------------------------------------------------------------------

    @rx.event
    def toggle_settings(self):
        self.settings_open = not self.settings_open

    @rx.event
    async def save_settings(self, form: dict):
        actor = await self._signed_in()
        if actor is None:
            return rx.redirect(SIGN_IN)
        ok, settings = self._form_settings(form)
        if not ok:
            return
        if self.current_id and not (await self._engine(
            chat_service().conversations.update(actor, self.current_id, settings)
        ))[0]:
            return
        self.system_prompt = settings["system_prompt"] or ""
        self.max_tokens, self.temperature = _text(settings["max_tokens"]), _text(settings["temperature"])
        self.settings_open = False

    @rx.event
    async def choose_model(self, model: str):
        """The model picker: remembered by the open conversation for its next answers."""
        actor = await self._signed_in()
        if actor is None:
            return rx.redirect(SIGN_IN)
        self.model = model
        if self.current_id:
            await self._engine(chat_service().conversations.update(actor, self.current_id, {"model": model}))

    def _form_settings(self, form: dict) -> tuple[bool, dict]:
        """The settings form's text → checked values (blank = the default), or a notice."""
        try:
            values = {
                "system_prompt": str(form.get("system_prompt", "")).strip() or None,
                "max_tokens": _parse(form.get("max_tokens"), int, "Max tokens must be a whole number."),
                "temperature": _parse(form.get("temperature"), float, "Temperature must be a number."),
            }
            checked = chat_service().check_settings(**values)
        except InputError as exc:
            self.notice = exc.message
            return False, {}
        self.notice = ""
        return True, {name: getattr(checked, name) for name in values}

    async def _engine(self, call: Awaitable[T]) -> tuple[bool, T | None]:
        """Await an engine call: ``(True, result)``, or ``(False, None)`` with the refusal as
        the page's notice. Success clears the notice."""
        try:
            result = await call
        except (InputError, OverLimit, Forbidden) as exc:
            self.notice = exc.message
            return False, None
        except NotFound:
            self.notice = GONE_NOTICE
            return False, None
        self.notice = ""
        return True, result

    # -- managing conversations ----------------------------------------------------------

    @rx.event
    async def search_conversations(self, form: dict):
        actor = await self._signed_in()
        if actor is None:
            return rx.redirect(SIGN_IN)
        self.search = str(form.get("q", ""))
        await self._refresh(actor)

    @rx.event
    def toggle_rename(self):
        self.renaming = not self.renaming

    @rx.event
    async def rename(self, form: dict):
        actor = await self._signed_in()
        if actor is None:
            return rx.redirect(SIGN_IN)
        ok, _ = await self._engine(chat_service().conversations.update(actor, self.current_id,
                                                                      {"title": form.get("title")}))
        if not ok:
            return
        self.renaming = False
        await self._refresh(actor)

    @rx.event
    def toggle_delete(self):
        self.confirming_delete = not self.confirming_delete

    @rx.event
    async def delete(self):
        actor = await self._signed_in()
        if actor is None:
            return rx.redirect(SIGN_IN)
        try:
            await chat_service().conversations.delete(actor, self.current_id)
        except NotFound:
            pass  # already gone: the result the user wanted
        self.confirming_delete = False
        return rx.redirect("/")
