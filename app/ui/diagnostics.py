"""The /diagnostics page: checks of the path between browser and server (assets/diagnostics.jsx).

No Reflex state: the checks run in the browser against the diagnostics API
(app/web/diagnostics.py), so they measure the same path the answers take.
"""

from __future__ import annotations

import reflex as rx

from app.ui.page_frame import page_header


class Diagnostics(rx.Component):
    """The check rows and their buttons; renders and runs everything itself."""

    library = "$/public/diagnostics.jsx"
    tag = "Diagnostics"


class ChaosSwitch(rx.Component):
    """Chaos mode on/off and its faults (assets/chaos_switch.jsx, through /api/chaos)."""

    library = "$/public/chaos_switch.jsx"
    tag = "ChaosSwitch"


def _chaos_section() -> rx.Component:
    """Chaos mode: faults injected on purpose to watch answers survive them."""
    return rx.el.section(
        rx.el.h2("Chaos mode", class_name="ub-diag-section-title"),
        ChaosSwitch.create(),
        class_name="ub-diag-chaos",
        data_testid="chaos-section",
        custom_attrs={"aria-label": "Chaos mode"},
    )


def diagnostics_page() -> rx.Component:
    return rx.el.main(
        page_header("Connection diagnostics"),
        Diagnostics.create(),
        _chaos_section(),
        class_name="ub-main ub-diag-page",
    )
