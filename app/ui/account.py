"""The /account page: the signed-in user's API tokens for the HTTP API.

A new token is shown once, right after it is made (``new_token``: the user's own secret, on
the user's own page); afterwards only its name and dates are listed. Revoking one ends it at
once.
"""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import datetime

import reflex as rx

from app.engine.accounts import AccountError
from app.runtime import chat_service
from app.ui.page_frame import notices, once_loaded, page_header
from app.ui.signed_in import SIGN_IN, event_actor


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "never"


@dataclasses.dataclass
class TokenItem:
    id: str
    name: str
    created: str
    last_used: str


class AccountState(rx.State):
    user_name: str = ""
    tokens: list[TokenItem] = []
    new_token: str = ""
    new_token_name: str = ""
    notice: str = ""

    @rx.event
    async def load(self):
        self.new_token = self.new_token_name = self.notice = ""
        return await self._read()

    async def _read(self):
        actor = await event_actor(self.router)
        if actor is None:
            return rx.redirect(SIGN_IN)
        self.user_name = actor.name
        rows = await asyncio.to_thread(chat_service().accounts.tokens, actor)
        self.tokens = [TokenItem(t.id, t.name, _when(t.created_at), _when(t.last_used_at)) for t in rows]
        return None

    @rx.event
    async def create_token(self, form: dict):
        actor = await event_actor(self.router)
        if actor is None:
            return rx.redirect(SIGN_IN)
        try:
            row, token = await asyncio.to_thread(chat_service().accounts.create_token, actor, form.get("name"))
        except AccountError as exc:
            self.notice = exc.message
            return None
        self.new_token, self.new_token_name, self.notice = token, row.name, ""
        return await self._read()

    @rx.event
    async def revoke(self, token_id: str):
        actor = await event_actor(self.router)
        if actor is None:
            return rx.redirect(SIGN_IN)
        await asyncio.to_thread(chat_service().accounts.revoke_token, actor, token_id)
        self.new_token = self.new_token_name = ""
        return await self._read()


def _token(token: TokenItem) -> rx.Component:
    return rx.el.li(
        rx.el.strong(token.name),
        rx.el.span("created " + token.created + " · last used " + token.last_used, class_name="ub-hint"),
        rx.el.button("Revoke", type="button", on_click=AccountState.revoke(token.id), class_name="ub-button",
                     custom_attrs={"aria-label": "Revoke " + token.name}),
        class_name="ub-row ub-admin-item",
        data_testid="api-token",
    )


def _new_token() -> rx.Component:
    return rx.cond(
        AccountState.new_token != "",
        rx.el.div(
            rx.el.p("Your new token “", AccountState.new_token_name, "”. Copy it now (select it, then Ctrl+C): it "
                    "is not shown again.", class_name="ub-hint"),
            rx.el.code(AccountState.new_token, class_name="ub-secret-once", data_testid="new-token"),
            rx.el.p("Use it as ", rx.el.code("Authorization: Bearer <token>"), " with the HTTP API.",
                    class_name="ub-hint"),
            role="status",
        ),
    )


def account_page() -> rx.Component:
    return rx.el.main(
        page_header("Account · ", AccountState.user_name),
        *notices(AccountState.notice),
        once_loaded(
            rx.el.section(
                rx.el.h2("API tokens", class_name="ub-diag-section-title"),
                rx.el.p("A token lets a script use the HTTP API as you.", class_name="ub-hint"),
                rx.form(
                    rx.el.input(name="name", placeholder="What it is for, e.g. laptop script", max_length=100,
                                class_name="ub-search", custom_attrs={"aria-label": "Token name"}),
                    rx.el.button("Create token", type="submit", class_name="ub-button"),
                    on_submit=AccountState.create_token,
                    reset_on_submit=True,
                    class_name="ub-row",
                ),
                _new_token(),
                rx.el.ul(rx.foreach(AccountState.tokens, _token), class_name="ub-admin-list"),
                class_name="ub-admin-section",
                custom_attrs={"aria-label": "API tokens"},
            ),
        ),
        class_name="ub-main ub-admin-page",
    )
