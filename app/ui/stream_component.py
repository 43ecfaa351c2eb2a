"""``ResilientStream``: the Reflex wrapper around assets/resilient_stream.jsx."""

from __future__ import annotations

import reflex as rx
from reflex.event import EventHandler, no_args_event_spec, passthrough_event_spec


class ResilientStream(rx.Component):
    library = "$/public/resilient_stream.jsx"
    tag = "ResilientStream"
    lib_dependencies: list[str] = ["react-markdown@10.1.0", "remark-gfm@4.0.1", "rehype-highlight@7.0.2"]

    run_id: rx.Var[str]
    events_url: rx.Var[str]
    stop_url: rx.Var[str]
    continue_url: rx.Var[str]
    retry_url: rx.Var[str]
    timeline_url: rx.Var[str]
    report_url: rx.Var[str]
    client_events_url: rx.Var[str]
    initial_state: rx.Var[str]
    initial_text: rx.Var[str]
    initial_detail: rx.Var[str]
    initial_seq: rx.Var[int]
    heartbeat_ms: rx.Var[int]
    demo: rx.Var[bool]

    # Called with the new run's id after Retry started a new answer (the list must show it).
    on_retried: EventHandler[passthrough_event_spec(str)]


resilient_stream = ResilientStream.create


class Shortcuts(rx.Component):
    """Page-wide keyboard shortcuts (assets/shortcuts.jsx); renders nothing."""

    library = "$/public/shortcuts.jsx"
    tag = "Shortcuts"

    on_new_chat: EventHandler[no_args_event_spec]


shortcuts = Shortcuts.create
