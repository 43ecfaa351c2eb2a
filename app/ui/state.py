"""The chat page's Reflex state: the conversation list, the open conversation's messages and
what the composer sends. Coarse facts only — answer text streams outside state."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import Awaitable
from typing import TypeVar

import reflex as rx

from app.engine.service import InputError, NotFound, RunRequest
from app.runtime import chat_service


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


@dataclasses.dataclass
class ModelItem:
    id: str
    label: str


T = TypeVar("T")
GONE_NOTICE = "This conversation does not exist (or was deleted)."


class ChatState(rx.State):
    conversations: list[ConversationItem] = []
    messages: list[MessageItem] = []
    current_id: str = ""
    title: str = ""
    notice: str = ""
    is_demo: bool = False
    models: list[ModelItem] = []
    model: str = ""
    heartbeat_ms: int = 15000
    # The client_request_id the composer sends next; renewed after each accepted send, so a
    # double click or a resent event carries the same id and never starts a second answer.
    draft_id: str = ""
    search: str = ""
    renaming: bool = False
    confirming_delete: bool = False

    def _route_conversation_id(self) -> str:
        parts = self.router.url.path.strip("/").split("/")
        return parts[1] if len(parts) == 2 and parts[0] == "c" else ""

    @rx.event
    async def load(self):
        """on_load of both pages: read the list and, on /c/<id>, that conversation."""
        service = chat_service()
        registry = service.registry
        self.is_demo = registry.has_demo
        self.models = [ModelItem(m.id, m.label) for m in registry.models]
        if self.model not in {m.id for m in registry.models}:
            self.model = registry.default.id
        self.heartbeat_ms = int(service.settings.heartbeat_interval_s * 1000)
        self.notice = ""
        self.renaming = self.confirming_delete = False
        self.draft_id = self.draft_id or uuid.uuid4().hex
        self.current_id = self._route_conversation_id()
        await self._refresh()

    @rx.event
    async def refresh(self, _new_run_id: str = ""):
        """Re-read the open conversation (a retry added an answer)."""
        await self._refresh()

    async def _refresh(self) -> None:
        history = chat_service().history
        summaries = await asyncio.to_thread(history.conversations, self.search)
        self.conversations = [ConversationItem(c.id, c.title) for c in summaries]
        if not self.current_id:
            self.title, self.messages = "", []
            return
        conversation = await asyncio.to_thread(history.conversation, self.current_id)
        if conversation is None:
            self.title, self.messages = "", []
            self.notice = GONE_NOTICE
            return
        views = await asyncio.to_thread(history.messages, self.current_id)
        self.title = conversation.title
        self.messages = [
            MessageItem(v.id, v.role, v.content, v.run_id or "", str(v.run_state or ""), v.provider == "demo",
                        v.detail, v.last_seq)
            for v in views
        ]

    @rx.event
    async def send(self, form: dict):
        content = form.get("content", "")
        request = RunRequest(
            content=content,
            client_request_id=form.get("client_request_id") or self.draft_id or uuid.uuid4().hex,
            conversation_id=self.current_id or None,
            model=form.get("model") or None,
        )
        ok, started = await self._engine(chat_service().start_run(request))
        if not ok:
            return
        self.draft_id = uuid.uuid4().hex
        self.model = form.get("model") or self.model
        if not self.current_id:
            return rx.redirect(f"/c/{started[0].conversation_id}")
        await self._refresh()

    async def _engine(self, call: Awaitable[T]) -> tuple[bool, T | None]:
        """Await an engine call: ``(True, result)``, or ``(False, None)`` with the refusal as
        the page's notice. Success clears the notice."""
        try:
            result = await call
        except InputError as exc:
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
        self.search = str(form.get("q", ""))
        await self._refresh()

    @rx.event
    def toggle_rename(self):
        self.renaming = not self.renaming

    @rx.event
    async def rename(self, form: dict):
        ok, _ = await self._engine(chat_service().update_conversation(self.current_id, {"title": form.get("title")}))
        if not ok:
            return
        self.renaming = False
        await self._refresh()

    @rx.event
    def toggle_delete(self):
        self.confirming_delete = not self.confirming_delete

    @rx.event
    async def delete(self):
        try:
            await chat_service().delete_conversation(self.current_id)
        except NotFound:
            pass  # already gone: the result the user wanted
        self.confirming_delete = False
        return rx.redirect("/")
