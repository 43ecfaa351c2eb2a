"""Reflex configuration. Unbroken's own settings come from the environment (app/settings.py)."""

import reflex as rx

config = rx.Config(
    app_name="app",
    telemetry_enabled=False,
    show_built_with_reflex=False,
    plugins=[rx.plugins.RadixThemesPlugin(theme=rx.theme(appearance="inherit", accent_color="indigo"))],
    disable_plugins=[rx.plugins.SitemapPlugin],
)
