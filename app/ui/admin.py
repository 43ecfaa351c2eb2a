"""The /admin page: users and their limits, invites, the sign-up mode, the providers.

Only admins see it (``AdminState.load`` sends anybody else away). A provider's key field is
write-only: it shows whether a key is set, a typed key goes to the server in the form's event
and the form is made anew afterwards.
"""

from __future__ import annotations

import reflex as rx

from app.settings import SIGNUP_MODES
from app.ui.admin_state import AdminState, ProviderItem, UserItem
from app.ui.page_frame import notices, once_loaded, page_header


def _button(label: str, aria_label: str, on_click) -> rx.Component:
    return rx.el.button(label, type="button", on_click=on_click, custom_attrs={"aria-label": aria_label},
                        class_name="ub-button")


def _field(label: str, control: rx.Component) -> rx.Component:
    return rx.el.label(rx.el.span(label), control, class_name="ub-field")


def _limit_input(name: str, label: str, value, default) -> rx.Component:
    return _field(label, rx.el.input(name=name, default_value=value, placeholder=default, type="number", min=1,
                                     step=1, class_name="ub-search", custom_attrs={"aria-label": label}))


def _user_row(user: UserItem) -> rx.Component:
    roles = rx.el.span(
        rx.cond(user.is_admin, "admin", "user"), rx.cond(user.disabled, " · disabled", ""),
        rx.cond(user.is_self, " · you", ""), class_name="ub-hint",
    )
    actions = rx.cond(
        user.is_self,
        rx.fragment(),
        rx.el.div(
            _button(rx.cond(user.disabled, "Enable", "Disable"), "Disable or enable " + user.name,
                    AdminState.set_disabled(user.id, ~user.disabled)),
            _button(rx.cond(user.is_admin, "Remove admin", "Make admin"), "Change admin role of " + user.name,
                    AdminState.set_admin(user.id, ~user.is_admin)),
            class_name="ub-row",
        ),
    )
    limits = rx.form(
        rx.el.input(type="hidden", name="user_id", value=user.id),
        _limit_input("messages_per_minute", "Messages per minute", user.messages_per_minute,
                     AdminState.default_messages_per_minute),
        _limit_input("concurrent_runs", "Answers at once", user.concurrent_runs, AdminState.default_concurrent_runs),
        _limit_input("daily_token_budget", "Tokens per day", user.daily_token_budget,
                     AdminState.default_daily_token_budget),
        rx.el.button("Save limits", type="submit", class_name="ub-button",
                     custom_attrs={"aria-label": "Save limits of " + user.name}),
        on_submit=AdminState.save_limits,
        class_name="ub-row ub-admin-limits",
    )
    return rx.el.li(
        rx.el.div(rx.el.strong(user.name, class_name="ub-user-name"), roles, actions, class_name="ub-row"),
        limits,
        class_name="ub-admin-item",
        data_testid="admin-user",
        custom_attrs={"data-user": user.name},
    )


def _listing(title: str, hint: str, items: rx.Component) -> rx.Component:
    """A section of the page: a list of users or providers, with what its fields mean."""
    return rx.el.section(
        rx.el.h2(title, class_name="ub-diag-section-title"),
        rx.el.p(hint, class_name="ub-hint"),
        rx.el.ul(items, class_name="ub-admin-list"),
        class_name="ub-admin-section",
        custom_attrs={"aria-label": title},
    )


def _users() -> rx.Component:
    return _listing("Users", "Blank limits use the instance's defaults (shown greyed).",
                    rx.foreach(AdminState.users, _user_row))


def _signup() -> rx.Component:
    invite = rx.cond(
        AdminState.invite_link != "",
        rx.el.div(
            rx.el.p("Send this link to the person you invite (valid 7 days, once; it is not shown again; "
                    "copy it with the browser's “Copy link”):",
                    class_name="ub-hint"),
            rx.el.a(rx.el.code(AdminState.invite_link), href=AdminState.invite_link, class_name="ub-secret-once",
                    data_testid="invite-link"),
        ),
    )
    return rx.el.section(
        rx.el.h2("Sign-up", class_name="ub-diag-section-title"),
        rx.el.div(
            _field("Who may create an account", rx.el.select(
                *[rx.el.option(mode, value=mode) for mode in SIGNUP_MODES],
                value=AdminState.signup_mode, on_change=AdminState.choose_signup_mode,
                custom_attrs={"aria-label": "Sign-up mode"}, class_name="ub-model-picker",
            )),
            _button("Create invite", "Create invite", AdminState.create_invite),
            class_name="ub-row",
        ),
        rx.el.p("open: anybody; invite: with a link made here; closed: nobody.", class_name="ub-hint"),
        invite,
        class_name="ub-admin-section",
        custom_attrs={"aria-label": "Sign-up"},
    )


def _key_field(provider: ProviderItem) -> rx.Component:
    status = rx.cond(provider.key_set, rx.cond(provider.key_is_admins, "key set here", "key set in configuration"),
                     "no key")
    return rx.cond(
        provider.takes_key,
        rx.el.div(
            _field("API key", rx.el.input(
                name="api_key", type="password", auto_complete="new-password", placeholder=status,
                class_name="ub-search", custom_attrs={"aria-label": provider.provider + " API key"},
            )),
            rx.el.span(status, class_name="ub-hint", data_testid="key-status"),
            rx.cond(provider.key_is_admins, _button("Remove key", "Remove " + provider.provider + " key",
                                                    AdminState.remove_key(provider.provider))),
            class_name="ub-row",
        ),
    )


def _provider(provider: ProviderItem) -> rx.Component:
    return rx.el.li(
        rx.el.div(
            rx.el.strong(provider.provider),
            rx.el.span(rx.cond(provider.enabled, "on", "off"), class_name="ub-hint"),
            class_name="ub-row",
        ),
        rx.form(
            rx.el.input(type="hidden", name="provider", value=provider.provider),
            _field("Base URL", rx.el.input(
                name="base_url", default_value=provider.admin_base_url,
                placeholder=rx.cond(provider.base_url != "", provider.base_url, "not set"),
                class_name="ub-search", custom_attrs={"aria-label": provider.provider + " base URL"},
            )),
            _field("Models (comma-separated)", rx.el.input(
                name="models", default_value=provider.admin_models,
                placeholder=rx.cond(provider.models != "", provider.models, provider.default_model),
                class_name="ub-search", custom_attrs={"aria-label": provider.provider + " models"},
            )),
            _key_field(provider),
            rx.el.button("Save", type="submit", class_name="ub-button",
                         custom_attrs={"aria-label": "Save " + provider.provider}),
            on_submit=AdminState.save_provider,
            key=provider.provider + AdminState.form_version.to_string(),
            class_name="ub-admin-provider",
        ),
        class_name="ub-admin-item",
        data_testid="admin-provider",
        custom_attrs={"data-provider": provider.provider},
    )


def _providers() -> rx.Component:
    return _listing("Providers", "Values entered here win over the configuration; a blank field falls back to it. "
                                 "Keys are kept on the server and never shown again.",
                    rx.foreach(AdminState.providers, _provider))


def admin_page() -> rx.Component:
    return rx.el.main(
        page_header("Admin"),
        *notices(AdminState.notice, AdminState.saved),
        once_loaded(_users(), _signup(), _providers()),
        class_name="ub-main ub-admin-page",
    )
