"""A user's conversations: the list, one conversation's view, renaming and settings, the
branch on screen, and deleting one with everything it holds.

Every method takes the ``Actor``: another user's conversation is ``NotFound``, exactly like
an id that does not exist (the store and history queries are scoped to the user).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable

from app.engine.accounts import Actor
from app.engine.history import ConversationSummary, History
from app.engine.log import EventLog
from app.engine.run_input import MAX_TITLE_CHARS, InputError, NotFound
from app.engine.runner import Runner
from app.engine.rows import ConversationSettings
from app.engine.store import Store


class Conversations:
    def __init__(self, store: Store, history: History, runner: Runner, log: EventLog,
                 check_settings: Callable[..., ConversationSettings]) -> None:
        """``check_settings``: settings as a user sent them → checked (``run_input.check_settings``)."""
        self._store, self._history, self._runner, self._log = store, history, runner, log
        self._check_settings = check_settings

    async def list(self, actor: Actor, search: str = "") -> list[ConversationSummary]:
        """The actor's conversations, newest first (``History.conversations``)."""
        return await asyncio.to_thread(self._history.conversations, actor.id, search)

    async def update(self, actor: Actor, conversation_id: str, changes: dict) -> None:
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
        checked = dataclasses.asdict(self._check_settings(**settings))
        values.update({name: checked[name] for name in settings})
        if not values:
            raise InputError("nothing_to_change", "Send at least one of title, model, system_prompt, max_tokens, "
                                                  "temperature.")
        if not await asyncio.to_thread(self._store.update_conversation, conversation_id, actor.id, **values):
            raise NotFound("conversation")

    async def view(self, actor: Actor, conversation_id: str) -> dict:
        """``GET /api/conversations/{id}``: its settings and the branch on screen."""
        summary = await asyncio.to_thread(self._history.conversation, conversation_id, actor.id)
        if summary is None:
            raise NotFound("conversation")
        settings = await asyncio.to_thread(self._store.conversation_settings, conversation_id, actor.id)
        messages = await asyncio.to_thread(self._history.messages, conversation_id, actor.id)
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

    async def show_branch(self, actor: Actor, conversation_id: str, message_id: object) -> None:
        """Show the branch through ``message_id`` (one of the versions of a turn)."""
        if not isinstance(message_id, str):
            raise InputError("bad_message_id", "message_id must be a string.")
        if not await asyncio.to_thread(self._store.show_branch, conversation_id, actor.id, message_id):
            raise NotFound("message")

    async def delete(self, actor: Actor, conversation_id: str) -> None:
        """Stop its unfinished answers, then delete it with everything it holds."""
        for run_id in await asyncio.to_thread(self._store.conversation_run_ids, conversation_id, actor.id):
            await self._runner.stop(run_id)
        await self._log.durable()
        if not await asyncio.to_thread(self._store.delete_conversation, conversation_id, actor.id):
            raise NotFound("conversation")
