"""Shared fixtures: settings on a fresh SQLite file, the API on a real port, the fake upstream."""

from __future__ import annotations

import dataclasses

import pytest

from app.engine.service import ChatService
from app.settings import Settings
from app.web.asgi import build_api_app
from tests.fakes.server import ServerThread
from tests.fakes.upstream import FakeUpstream


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(
        database_url=f"sqlite:///{tmp_path}/unbroken.db",
        demo_tokens_per_s=2000,
        heartbeat_interval_s=1.0,
        sse_retry_ms=100,
        retry_base_delay_s=0.05,
        retry_max_delay_s=0.2,
    )


@pytest.fixture
async def service(settings):
    chat = ChatService(settings)
    await chat.start()
    yield chat
    await chat.close()


@pytest.fixture
def upstream():
    with FakeUpstream() as fake:
        yield fake


TEST_KEY = "sk-test-key"


def provider_settings(upstream: FakeUpstream, provider: str, key: str = TEST_KEY) -> dict:
    """Settings that point one provider kind at the fake upstream."""
    return {
        "openai": {"openai_base_url": upstream.base_url, "openai_api_key": key},
        "responses": {"openai_base_url": upstream.base_url, "openai_api_key": key, "openai_api": "responses"},
        "anthropic": {"anthropic_base_url": upstream.url, "anthropic_api_key": key},
        "ollama": {"ollama_host": upstream.url},
    }[provider]


@pytest.fixture
def api_against(settings):
    """Start the API (no Reflex) on a real port against the given upstream, or the demo."""
    servers = []

    def start(upstream: FakeUpstream | None = None, provider: str = "openai", **overrides) -> ServerThread:
        pointed = provider_settings(upstream, provider) if upstream is not None else {}
        config = dataclasses.replace(settings, **{**pointed, **overrides})
        server = ServerThread(build_api_app(ChatService(config)))
        servers.append(server.__enter__())
        return server

    yield start
    for server in servers:
        server.__exit__(None, None, None)


def pytest_collection_modifyitems(items):
    """Browser tests run last: sync Playwright keeps an event loop running in the main thread
    for the rest of the session, where pytest-asyncio could no longer start its own."""
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)
