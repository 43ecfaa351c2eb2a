"""Wiring only: the Reflex app, its pages, the API routes and the engine's lifespan."""

from __future__ import annotations

import contextlib

import reflex as rx
from starlette.applications import Starlette

from app.runtime import chat_service
from app.ui.account import AccountState, account_page
from app.ui.admin import admin_page
from app.ui.admin_state import AdminState
from app.ui.diagnostics import diagnostics_page
from app.ui.pages import chat_page
from app.ui.state import ChatState
from app.web.access import AccessGate
from app.web.routes import api_routes


@contextlib.asynccontextmanager
async def engine_lifespan():
    service = chat_service()
    await service.start()
    try:
        yield
    finally:
        await service.close()


app = rx.App(
    # Our routes are mounted over Reflex's; the gate then wraps them all (pages, websocket, API).
    api_transformer=[Starlette(routes=api_routes(chat_service())), lambda asgi: AccessGate(asgi, chat_service())],
    stylesheets=["/unbroken.css"],
)
app.register_lifespan_task(engine_lifespan)
app.add_page(chat_page, route="/", title="Unbroken", on_load=ChatState.load)
app.add_page(chat_page, route="/c/[conversation_id]", title="Unbroken", on_load=ChatState.load)
app.add_page(diagnostics_page, route="/diagnostics", title="Connection diagnostics · Unbroken")
app.add_page(admin_page, route="/admin", title="Admin · Unbroken", on_load=AdminState.load)
app.add_page(account_page, route="/account", title="Account · Unbroken", on_load=AccountState.load)

# Benchmark only (bench/README.md, M8): a page that streams an answer through Reflex state, the
# baseline the product's event stream is compared with. Never on unless the benchmark asks.
if chat_service().settings.bench_pages:
    from bench.reflex_baseline import add_bench_pages

    add_bench_pages(app)
