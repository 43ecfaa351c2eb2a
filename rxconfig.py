"""Reflex configuration. Unbroken's own settings come from the environment (app/settings.py)."""

import reflex as rx

from app.settings import Settings

settings = Settings.from_env()

config = rx.Config(
    app_name="app",
    telemetry_enabled=False,
    show_built_with_reflex=False,
    plugins=[rx.plugins.RadixThemesPlugin(theme=rx.theme(appearance="inherit", accent_color="indigo"))],
    disable_plugins=[rx.plugins.SitemapPlugin],
    # Reflex allows credentialed requests from any origin by default; Unbroken's pages call the
    # API from their own origin, so only origins named in UNBROKEN_ALLOWED_ORIGINS get CORS.
    cors_allowed_origins=list(settings.allowed_origins),
    # Several workers (REDIS_URL): Reflex then keeps each tab's state in that Redis, so a tab's
    # websocket may land on any worker process, and serves from several (GRANIAN_WORKERS, else
    # its own count). Reflex itself reads only REFLEX_REDIS_URL, which still wins when set.
    redis_url=settings.redis_url,
)
