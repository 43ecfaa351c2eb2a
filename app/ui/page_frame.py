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


def notices(notice, saved=None) -> list[rx.Component]:
    """A refusal (``role=alert``) and, when given, what was just saved (``role=status``)."""
    shown = [rx.cond(notice != "", rx.el.div(notice, class_name="ub-notice", role="alert"))]
    if saved is not None:
        shown.append(rx.cond(saved != "", rx.el.div(saved, class_name="ub-hint", role="status")))
    return shown
