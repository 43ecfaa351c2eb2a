"""The chat page: conversation list, messages, composer (UI hooks of design.md)."""

from __future__ import annotations

import reflex as rx

from app.ui.state import ChatState, MessageItem
from app.ui.stream_component import resilient_stream, shortcuts

NEW_CHAT_SHORTCUT = "Ctrl+Shift+O"
SIGN_OUT_FORM = ('<form method="post" action="/auth/logout">'
                 '<button type="submit" class="ub-button" data-testid="sign-out">Sign out</button></form>')


def _sidebar() -> rx.Component:
    return rx.el.nav(
        rx.link("+ New chat", href="/", class_name="ub-new-chat", title=f"New chat ({NEW_CHAT_SHORTCUT})"),
        rx.form(
            rx.el.input(
                name="q", type="search", placeholder="Search chats", default_value=ChatState.search,
                custom_attrs={"aria-label": "Search conversations"}, class_name="ub-search",
            ),
            on_submit=ChatState.search_conversations,
        ),
        rx.el.ul(
            rx.foreach(
                ChatState.conversations,
                lambda c: rx.el.li(
                    rx.link(c.title, href="/c/" + c.id, class_name="ub-conversation-link"),
                    class_name=rx.cond(c.id == ChatState.current_id, "ub-current", ""),
                ),
            ),
            class_name="ub-conversation-list",
        ),
        rx.el.div(
            rx.link("Connection diagnostics", href="/diagnostics", class_name="ub-diag-link"),
            _account(),
            class_name="ub-sidebar-footer",
        ),
        class_name="ub-sidebar",
        aria_label="Conversations",
    )


def _account() -> rx.Component:
    """Who is signed in, their account page (API tokens), and the way out (a plain form: the
    session cookie is HttpOnly)."""
    return rx.cond(
        ChatState.auth_mode != "none",
        rx.el.div(
            rx.el.span(ChatState.user_name, class_name="ub-user-name", data_testid="user-name"),
            rx.link("Account", href="/account", class_name="ub-account-link"),
            rx.cond(ChatState.is_admin, rx.link("Admin", href="/admin", class_name="ub-admin-link")),
            rx.cond(
                ChatState.auth_mode == "password",
                # Raw HTML: a Reflex form would cancel the browser's own submit.
                rx.html(SIGN_OUT_FORM),
            ),
            class_name="ub-account",
        ),
    )


def _button(label: str, aria_label: str, on_click, **attrs) -> rx.Component:
    """A button; ``attrs``: more HTML attributes (e.g. aria-expanded)."""
    return rx.el.button(label, type="button", on_click=on_click,
                        custom_attrs={"aria-label": aria_label, **attrs}, class_name="ub-button")


def _form_actions(label: str, aria_label: str, cancel_aria_label: str, on_cancel,
                  class_name: str = "ub-button") -> rx.Component:
    """A form's submit button and its Cancel, in a row."""
    return rx.el.div(
        rx.el.button(label, type="submit", custom_attrs={"aria-label": aria_label}, class_name=class_name),
        _button("Cancel", cancel_aria_label, on_cancel),
        class_name="ub-row",
    )


def _header() -> rx.Component:
    title = rx.el.h1(rx.cond(ChatState.title != "", ChatState.title, "New chat"), class_name="ub-title")
    rename_form = rx.form(
        rx.el.input(name="title", default_value=ChatState.title, auto_focus=True, class_name="ub-search",
                    custom_attrs={"aria-label": "Conversation title"}),
        rx.el.button("Save", type="submit", custom_attrs={"aria-label": "Save title"}, class_name="ub-button"),
        _button("Cancel", "Cancel rename", ChatState.toggle_rename),
        on_submit=ChatState.rename,
        class_name="ub-row",
    )
    confirm_delete = rx.el.div(
        rx.el.span("Delete this conversation and all its answers?"),
        _button("Delete", "Confirm delete", ChatState.delete),
        _button("Cancel", "Cancel delete", ChatState.toggle_delete),
        class_name="ub-row ub-confirm",
        role="alertdialog",
    )
    settings = _button("Settings", "Conversation settings", ChatState.toggle_settings,
                       **{"aria-expanded": ChatState.settings_open})
    actions = rx.el.div(
        settings,
        rx.cond(
            ChatState.current_id != "",
            rx.fragment(
                _button("Rename", "Rename conversation", ChatState.toggle_rename),
                _button("Delete", "Delete conversation", ChatState.toggle_delete),
            ),
        ),
        class_name="ub-row",
    )
    return rx.el.header(
        rx.cond(ChatState.renaming, rename_form, title),
        rx.cond(ChatState.confirming_delete, confirm_delete, rx.cond(ChatState.renaming, rx.fragment(), actions)),
        class_name="ub-header",
    )


def _settings_panel() -> rx.Component:
    """System prompt, max_tokens and temperature of this conversation (blank: the default)."""
    def field(label: str, control: rx.Component) -> rx.Component:
        return rx.el.label(rx.el.span(label), control, class_name="ub-field")

    number = {"type": "number", "class_name": "ub-search"}
    return rx.cond(
        ChatState.settings_open,
        rx.form(
            field("System prompt", rx.el.textarea(
                name="system_prompt", default_value=ChatState.system_prompt, rows=3, class_name="ub-composer-input",
                placeholder=rx.cond(ChatState.default_system_prompt != "", ChatState.default_system_prompt,
                                    "None (the model's own behaviour)"),
                custom_attrs={"aria-label": "System prompt"},
            )),
            rx.el.div(
                field("Max tokens", rx.el.input(
                    name="max_tokens", default_value=ChatState.max_tokens, min=1, step=1,
                    placeholder=rx.cond(ChatState.default_max_tokens != "", ChatState.default_max_tokens,
                                        "provider default"),
                    custom_attrs={"aria-label": "Max tokens"}, **number,
                )),
                field("Temperature", rx.el.input(
                    name="temperature", default_value=ChatState.temperature, min=0, max=2, step=0.1,
                    placeholder=rx.cond(ChatState.default_temperature != "", ChatState.default_temperature,
                                        "provider default"),
                    custom_attrs={"aria-label": "Temperature"}, **number,
                )),
                class_name="ub-row",
            ),
            rx.el.p("Blank fields use the defaults. The settings apply to the next answers of this conversation.",
                    class_name="ub-hint"),
            _form_actions("Save", "Save settings", "Cancel settings", ChatState.toggle_settings),
            on_submit=ChatState.save_settings,
            class_name="ub-settings",
            custom_attrs={"aria-label": "Conversation settings form"},
        ),
    )


def _banner(shown, title: str, *words, **props) -> rx.Component:
    """A note above the conversation while ``shown`` holds: a bold title, then the words."""
    return rx.cond(shown, rx.el.div(rx.el.strong(title), *words, role="note", **props))


def _demo_banner() -> rx.Component:
    return _banner(
        ChatState.is_demo,
        "Demo mode: ",
        "answers from the demo model come from Unbroken's built-in demo provider, not a real model. "
        "Set OPENAI_API_KEY (and OPENAI_BASE_URL for other OpenAI-compatible servers) to connect a real API.",
        class_name="ub-banner",
    )


def _chaos_banner() -> rx.Component:
    return _banner(
        ChatState.chaos_on,
        "Chaos mode is on: ",
        "Unbroken injects faults on purpose (rate limits, overloads, dropped and stalled streams, cut "
        "connections) to show that answers still arrive whole. Open an answer's Details to see what happened. ",
        rx.el.a("Switch it off on the diagnostics page", href="/diagnostics"),
        ".",
        class_name="ub-banner ub-banner-chaos",
        data_testid="chaos-banner",
    )


def _first_run_help() -> rx.Component:
    """What a new chat shows before its first message."""
    return rx.cond(
        (ChatState.current_id == "") & (ChatState.messages.length() == 0),
        rx.el.div(
            rx.el.h2("Ask anything", class_name="ub-help-title"),
            rx.el.ul(
                rx.el.li("Answers survive reloads, lost Wi-Fi and server restarts: come back and they are still "
                         "there, complete."),
                rx.el.li("Enter sends, Shift+Enter adds a line, Esc stops an answer, "
                         f"{NEW_CHAT_SHORTCUT} starts a new chat."),
                rx.el.li("Edit a question or regenerate an answer: the earlier version stays, one click away."),
                rx.el.li("Settings sets this conversation's system prompt, length limit and temperature."),
            ),
            class_name="ub-help",
            data_testid="first-run-help",
        ),
    )


def _versions(message: MessageItem) -> rx.Component:
    """‹ 2 / 3 › between the versions of a turn (edited questions, regenerated answers)."""
    return rx.cond(
        message.versions > 1,
        rx.el.div(
            rx.el.button("‹", type="button", disabled=message.previous_version_id == "",
                         on_click=ChatState.show_version(message.previous_version_id),
                         custom_attrs={"aria-label": "Previous version"}, class_name="ub-button ub-version-button"),
            rx.el.span(message.version.to_string() + " / " + message.versions.to_string(), class_name="ub-version"),
            rx.el.button("›", type="button", disabled=message.next_version_id == "",
                         on_click=ChatState.show_version(message.next_version_id),
                         custom_attrs={"aria-label": "Next version"}, class_name="ub-button ub-version-button"),
            class_name="ub-row ub-versions",
            role="group",
            custom_attrs={"aria-label": "Versions"},
        ),
    )


def _question(message: MessageItem) -> rx.Component:
    editor = rx.form(
        rx.el.textarea(name="content", default_value=message.content, auto_focus=True, rows=3,
                       enter_key_submit=True, class_name="ub-composer-input",
                       custom_attrs={"aria-label": "Edit question"}),
        rx.el.input(type="hidden", name="client_request_id", value=ChatState.draft_id),
        _form_actions("Send", "Send edited question", "Cancel edit", ChatState.cancel_edit, "ub-button ub-send"),
        on_submit=ChatState.send_edit,
        class_name="ub-edit",
    )
    shown = rx.el.div(
        rx.el.div(message.content, class_name="ub-question", data_testid="user-message"),
        rx.el.div(
            _versions(message),
            _button("Edit", "Edit question", ChatState.start_edit(message.id)),
            class_name="ub-row ub-question-actions",
        ),
        class_name="ub-turn-question",
    )
    return rx.cond(ChatState.editing_id == message.id, editor, shown)


def _message(message: MessageItem) -> rx.Component:
    return rx.cond(
        message.role == "user",
        _question(message),
        rx.fragment(_versions(message), resilient_stream(
            key=message.run_id,
            run_id=message.run_id,
            events_url="/api/runs/" + message.run_id + "/events",
            stop_url="/api/runs/" + message.run_id + "/stop",
            continue_url="/api/runs/" + message.run_id + "/continue",
            retry_url="/api/runs/" + message.run_id + "/retry",
            timeline_url="/api/runs/" + message.run_id + "/timeline",
            report_url="/api/runs/" + message.run_id + "/report",
            client_events_url="/api/runs/" + message.run_id + "/client-events",
            on_retried=ChatState.refresh,
            initial_state=message.run_state,
            initial_text=message.content,
            initial_detail=message.detail,
            initial_seq=message.last_seq,
            heartbeat_ms=ChatState.heartbeat_ms,
            demo=message.demo,
        )),
    )


def _composer() -> rx.Component:
    # Until the page has loaded its state (Reflex's on_load), a message cannot be typed or sent:
    # sent earlier, it was handled before the load, which then reset what it had set (its notice).
    # Read-only rather than page_frame.once_loaded's disabled fieldset: the composer keeps the
    # cursor it is given when the page opens.
    ready = rx.State.is_hydrated
    return rx.form(
        rx.el.textarea(
            name="content",
            placeholder=rx.cond(ready, "Ask anything — Enter sends, Shift+Enter adds a line", "Connecting…"),
            custom_attrs={"aria-label": "Message"},
            read_only=~ready,
            enter_key_submit=ready,
            auto_focus=True,
            rows=3,
            class_name="ub-composer-input",
        ),
        rx.el.input(type="hidden", name="client_request_id", value=ChatState.draft_id),
        rx.el.select(
            rx.foreach(ChatState.models, lambda m: rx.el.option(m.label, value=m.id)),
            name="model",
            default_value=ChatState.model,
            key=ChatState.model,
            on_change=ChatState.choose_model,
            custom_attrs={"aria-label": "Model"},
            class_name="ub-model-picker",
        ),
        rx.el.button("Send", type="submit", disabled=~ready, custom_attrs={"aria-label": "Send"},
                     class_name="ub-button ub-send"),
        on_submit=ChatState.send,
        reset_on_submit=True,
        class_name="ub-composer",
    )


def chat_page() -> rx.Component:
    return rx.el.div(
        shortcuts(on_new_chat=ChatState.new_chat),
        _sidebar(),
        rx.el.main(
            _demo_banner(),
            _chaos_banner(),
            rx.cond(ChatState.notice != "", rx.el.div(ChatState.notice, class_name="ub-notice", role="alert")),
            _header(),
            _settings_panel(),
            _first_run_help(),
            rx.el.section(rx.foreach(ChatState.messages, _message), class_name="ub-messages"),
            _composer(),
            class_name="ub-main",
        ),
        class_name="ub-layout",
    )


