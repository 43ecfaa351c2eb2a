"""The process's one ``ChatService``, shared by the HTTP routes and the Reflex UI.

Created on first use from the environment; constructing it does no I/O (``start()`` runs in
the app's lifespan). Tests build their own ``ChatService`` instead.
"""

from __future__ import annotations

import functools

from app.engine.service import ChatService
from app.settings import Settings


@functools.cache
def chat_service() -> ChatService:
    return ChatService(Settings.from_env())
