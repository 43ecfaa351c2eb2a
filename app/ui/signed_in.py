"""Who sent a Reflex event: one rule for every page's state.

The actor comes from the page's websocket handshake (its cookie, API token or proxy header,
and the peer address), by the same rule as the HTTP API (``identity.identify``). It is looked
up again for every event, so a sign-out or a disabled account takes effect at once.
"""

from __future__ import annotations

import asyncio

from reflex.istate.data import RouterData

from app.engine.accounts import Actor
from app.engine.identity import Credentials, identify
from app.runtime import chat_service

SIGN_IN = "/login"


async def event_actor(router: RouterData) -> Actor | None:
    """The signed-in user behind an event, or None (the page should go to ``SIGN_IN``)."""
    service = chat_service()
    headers = {name.lower(): value for name, value in router.headers.raw_headers.items()}
    credentials = Credentials.from_headers(headers, headers.get("asgi-scope-client"), service.settings)
    return await asyncio.to_thread(identify, service.settings, service.accounts, credentials)
