"""Reflex configuration. Unbroken's own settings come from the environment (app/settings.py)."""

import reflex as rx

from app.settings import Settings

config = rx.Config(
    app_name="app",
    telemetry_enabled=False,
    show_built_with_reflex=False,
    plugins=[rx.plugins.RadixThemesPlugin(theme=rx.theme(appearance="inherit", accent_color="indigo"))],
    disable_plugins=[rx.plugins.SitemapPlugin],
    # Reflex allows credentialed requests from any origin by default; Unbroken's pages call the
    # API from their own origin, so only origins named in UNBROKEN_ALLOWED_ORIGINS get CORS.
    cors_allowed_origins=list(Settings.from_env().allowed_origins),
)
