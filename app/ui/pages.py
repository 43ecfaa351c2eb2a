"""The chat page: conversation list, messages, composer (UI hooks of design.md)."""

from __future__ import annotations

import reflex as rx

from app.ui.state import ChatState, MessageItem
from app.ui.stream_component import resilient_stream


def _sidebar() -> rx.Component:
    return rx.el.nav(
        rx.link("+ New chat", href="/", class_name="ub-new-chat"),
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
        class_name="ub-sidebar",
        aria_label="Conversations",
    )


def _button(label: str, aria_label: str, on_click, **props) -> rx.Component:
    return rx.el.button(label, type="button", on_click=on_click, custom_attrs={"aria-label": aria_label},
                        class_name="ub-button", **props)


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
    actions = rx.el.div(
        _button("Rename", "Rename conversation", ChatState.toggle_rename),
        _button("Delete", "Delete conversation", ChatState.toggle_delete),
        class_name="ub-row",
    )
    return rx.el.header(
        rx.cond(ChatState.renaming, rename_form, title),
        rx.cond(
            ChatState.current_id != "",
            rx.cond(ChatState.confirming_delete, confirm_delete, rx.cond(ChatState.renaming, rx.fragment(), actions)),
        ),
        class_name="ub-header",
    )


def _demo_banner() -> rx.Component:
    return rx.cond(
        ChatState.is_demo,
        rx.el.div(
            rx.el.strong("Demo mode: "),
            "answers from the demo model come from Unbroken's built-in demo provider, not a real model. "
            "Set OPENAI_API_KEY (and OPENAI_BASE_URL for other OpenAI-compatible servers) to connect a real API.",
            class_name="ub-banner",
            role="note",
        ),
    )


def _message(message: MessageItem) -> rx.Component:
    return rx.cond(
        message.role == "user",
        rx.el.div(message.content, class_name="ub-question", data_testid="user-message"),
        resilient_stream(
            key=message.run_id,
            run_id=message.run_id,
            events_url="/api/runs/" + message.run_id + "/events",
            stop_url="/api/runs/" + message.run_id + "/stop",
            continue_url="/api/runs/" + message.run_id + "/continue",
            retry_url="/api/runs/" + message.run_id + "/retry",
            on_retried=ChatState.refresh,
            initial_state=message.run_state,
            initial_text=message.content,
            initial_detail=message.detail,
            initial_seq=message.last_seq,
            heartbeat_ms=ChatState.heartbeat_ms,
            demo=message.demo,
        ),
    )


def _composer() -> rx.Component:
    return rx.form(
        rx.el.textarea(
            name="content",
            placeholder="Ask anything — Enter sends, Shift+Enter adds a line",
            custom_attrs={"aria-label": "Message"},
            enter_key_submit=True,
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
            custom_attrs={"aria-label": "Model"},
            class_name="ub-model-picker",
        ),
        rx.el.button("Send", type="submit", custom_attrs={"aria-label": "Send"}, class_name="ub-button ub-send"),
        on_submit=ChatState.send,
        reset_on_submit=True,
        class_name="ub-composer",
    )


def chat_page() -> rx.Component:
    return rx.el.div(
        _sidebar(),
        rx.el.main(
            _demo_banner(),
            rx.cond(ChatState.notice != "", rx.el.div(ChatState.notice, class_name="ub-notice", role="alert")),
            _header(),
            rx.el.section(rx.foreach(ChatState.messages, _message), class_name="ub-messages"),
            _composer(),
            class_name="ub-main",
        ),
        class_name="ub-layout",
    )


