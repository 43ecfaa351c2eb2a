"""What the pages beside the chat share: their header with the way back, and their notices."""

from __future__ import annotations

import reflex as rx


def page_header(*title) -> rx.Component:
    """``title``: text and vars, joined in the page's heading."""
    return rx.el.header(
        rx.el.h1(*title, class_name="ub-title"),
        rx.link("Back to chats", href="/", class_name="ub-diag-back"),
        class_name="ub-header",
    )


def once_loaded(*children) -> rx.Component:
    """The page's forms, disabled until the page has loaded its state (Reflex's on_load): an
    action taken earlier was handled first and the load then reset what it showed, e.g. a new
    API token, which is shown only once."""
    return rx.el.fieldset(*children, disabled=~rx.State.is_hydrated, class_name="ub-fieldset")


def notices(notice, saved=None) -> list[rx.Component]:
    """A refusal (``role=alert``) and, when given, what was just saved (``role=status``)."""
    shown = [rx.cond(notice != "", rx.el.div(notice, class_name="ub-notice", role="alert"))]
    if saved is not None:
        shown.append(rx.cond(saved != "", rx.el.div(saved, class_name="ub-hint", role="status")))
    return shown
