"""The admin page's Reflex state: users, invites, the sign-up mode and the providers.

Every event checks again that an admin sent it (``signed_in.event_actor``): a signed-out page
goes to /login, anybody else to the chat. Reflex sends state to the browser, so a provider key
is never put into a var: it arrives in the form's event, goes to the engine and is dropped;
the page only learns whether a key is set.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable
from typing import TypeVar

import reflex as rx

from app.engine.accounts import SIGNUP_KEY, Actor
from app.engine.provider_settings import parse_models
from app.engine.run_input import Conflict, Forbidden, InputError, NotFound
from app.runtime import chat_service
from app.settings import SIGNUP_MODES
from app.ui.signed_in import SIGN_IN, event_actor

T = TypeVar("T")


def _text(value: int | None) -> str:
    return "" if value is None else str(value)


@dataclasses.dataclass
class UserItem:
    id: str
    name: str
    is_admin: bool
    disabled: bool
    is_self: bool
    messages_per_minute: str  # "" = the instance's default
    concurrent_runs: str
    daily_token_budget: str


@dataclasses.dataclass
class ProviderItem:
    provider: str
    enabled: bool
    takes_key: bool
    key_set: bool
    key_is_admins: bool  # the key was entered here (else it comes from the configuration)
    base_url: str  # the one in use ("" none)
    admin_base_url: str  # the one entered here ("" none: the configuration's applies)
    models: str  # offered, comma-separated
    admin_models: str
    default_model: str


def _provider_item(view: dict) -> ProviderItem:
    admin_set = view["admin_set"]
    models = ", ".join(view["models"])
    return ProviderItem(
        provider=view["provider"], enabled=view["enabled"], takes_key=view["provider"] != "ollama",
        key_set=view["key_set"], key_is_admins="api_key" in admin_set, base_url=view["base_url"] or "",
        admin_base_url=(view["base_url"] or "") if "base_url" in admin_set else "",
        models=models, admin_models=models if "models" in admin_set else "", default_model=view["default_model"],
    )


def _limit(text: object, name: str) -> int | None:
    text = str(text or "").strip()
    if not text:
        return None
    if not text.isdigit() or int(text) < 1:
        raise InputError(f"bad_{name}", "Limits are whole numbers of at least 1 (blank: the instance's default).")
    return int(text)


class AdminState(rx.State):
    notice: str = ""
    saved: str = ""  # what the last change did, for people
    users: list[UserItem] = []
    providers: list[ProviderItem] = []
    signup_mode: str = ""
    invite_link: str = ""  # shown once, right after it is made
    # The instance's defaults, shown as the limit fields' placeholders.
    default_messages_per_minute: str = ""
    default_concurrent_runs: str = ""
    default_daily_token_budget: str = ""
    # Bumped after each provider change: the forms are made anew, so a typed key leaves the page.
    form_version: int = 0

    async def _admin(self) -> tuple[Actor | None, object]:
        """The admin behind this event, or the redirect for anybody else."""
        actor = await event_actor(self.router)
        if actor is None:
            return None, rx.redirect(SIGN_IN)
        if not actor.is_admin:
            return None, rx.redirect("/")
        return actor, None

    async def _engine(self, call: Awaitable[T], saved: str = "") -> tuple[bool, T | None]:
        """Await an engine call; a refusal becomes the notice."""
        try:
            result = await call
        except (InputError, Conflict, Forbidden) as exc:
            self.notice, self.saved = exc.message, ""
            return False, None
        except NotFound as exc:
            self.notice, self.saved = f"No such {exc.args[0] if exc.args else 'thing'}.", ""
            return False, None
        self.notice, self.saved = "", saved
        return True, result

    @rx.event
    async def load(self):
        actor, away = await self._admin()
        if away:
            return away
        self.notice = self.saved = self.invite_link = ""
        settings = chat_service().settings
        self.default_messages_per_minute = str(settings.messages_per_minute)
        self.default_concurrent_runs = str(settings.concurrent_runs)
        self.default_daily_token_budget = _text(settings.daily_token_budget) or "none"
        await self._read(actor)

    async def _read(self, actor: Actor) -> None:
        service = chat_service()
        rows = await asyncio.to_thread(service.accounts.users)
        self.users = [
            UserItem(u.id, u.name, u.is_admin, u.disabled, u.id == actor.id, _text(u.limits.messages_per_minute),
                     _text(u.limits.concurrent_runs), _text(u.limits.daily_token_budget))
            for u in rows
        ]
        self.signup_mode = await asyncio.to_thread(service.accounts.signup_mode)
        self.providers = [_provider_item(view) for view in await service.provider_views(actor)]

    # -- users -----------------------------------------------------------------------------

    async def _change_user(self, user_id: str, changes: dict, saved: str):
        actor, away = await self._admin()
        if away:
            return away
        await self._engine(chat_service().update_user(actor, user_id, changes), saved)
        await self._read(actor)

    @rx.event
    async def set_disabled(self, user_id: str, disabled: bool):
        return await self._change_user(user_id, {"disabled": disabled},
                                       "Account disabled." if disabled else "Account enabled.")

    @rx.event
    async def set_admin(self, user_id: str, is_admin: bool):
        return await self._change_user(user_id, {"is_admin": is_admin},
                                       "Now an admin." if is_admin else "No longer an admin.")

    @rx.event
    async def save_limits(self, form: dict):
        try:
            changes = {name: _limit(form.get(name), name)
                       for name in ("messages_per_minute", "concurrent_runs", "daily_token_budget")}
        except InputError as exc:
            self.notice, self.saved = exc.message, ""
            return None
        return await self._change_user(str(form.get("user_id", "")), changes, "Limits saved.")

    @rx.event
    async def create_invite(self):
        actor, away = await self._admin()
        if away:
            return away
        code = await asyncio.to_thread(chat_service().accounts.create_invite, actor)
        # A path: the page shows it as a link, which the browser completes with its own origin
        # (the server cannot tell which address the admin's browser used).
        self.invite_link = f"/signup?invite={code}"
        self.notice, self.saved = "", ""
        return None

    @rx.event
    async def choose_signup_mode(self, mode: str):
        actor, away = await self._admin()
        if away:
            return away
        if mode not in SIGNUP_MODES:
            self.notice = f"Sign-up is one of {', '.join(SIGNUP_MODES)}."
            return None
        await asyncio.to_thread(chat_service().accounts.set_setting, SIGNUP_KEY, mode)
        self.notice, self.saved = "", f"Sign-up is now {mode}."
        await self._read(actor)
        return None

    # -- providers -------------------------------------------------------------------------

    async def _change_provider(self, provider: str, changes: dict, saved: str):
        actor, away = await self._admin()
        if away:
            return away
        await self._engine(chat_service().set_provider(actor, provider, changes), saved)
        self.form_version += 1
        await self._read(actor)
        return None

    @rx.event
    async def save_provider(self, form: dict):
        """Base URL and models (blank: the configuration's); a key only when one was typed."""
        provider = str(form.get("provider", ""))
        changes: dict = {"base_url": str(form.get("base_url", "")).strip() or None,
                         "models": parse_models(str(form.get("models", ""))) or None}
        key = str(form.get("api_key", "")).strip()
        if key and provider != "ollama":
            changes["api_key"] = key
        return await self._change_provider(provider, changes, f"{provider} saved.")

    @rx.event
    async def remove_key(self, provider: str):
        """Forget the key entered here: the configuration's (if any) applies again."""
        return await self._change_provider(provider, {"api_key": None}, f"{provider}: the key entered here is removed.")
