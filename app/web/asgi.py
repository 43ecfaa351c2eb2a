"""A standalone ASGI app of the API alone (no Reflex): used by the integration tests and the
benchmark, and a reference for embedding Unbroken's protocol elsewhere."""

from __future__ import annotations

import contextlib

from starlette.applications import Starlette
from starlette.middleware import Middleware

from app.engine.service import ChatService
from app.web.access import AccessGate
from app.web.routes import api_routes


def build_api_app(service: ChatService) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(_app):
        await service.start()
        try:
            yield
        finally:
            await service.close()

    return Starlette(routes=api_routes(service), lifespan=lifespan,
                     middleware=[Middleware(AccessGate, service=service)])
