"""Providers, one module per wire format; ``build_provider`` picks one from the settings."""

from __future__ import annotations

import httpx

from app.engine.providers.base import ChatMessage, ChatRequest, Provider, StreamEnd, StreamItem, TextDelta
from app.engine.providers.demo import DemoProvider
from app.engine.providers.openai import OpenAIProvider
from app.settings import DEFAULT_OPENAI_BASE_URL, Settings

__all__ = [
    "ChatMessage",
    "ChatRequest",
    "DemoProvider",
    "OpenAIProvider",
    "Provider",
    "StreamEnd",
    "StreamItem",
    "TextDelta",
    "build_provider",
]


def build_provider(settings: Settings, client: httpx.AsyncClient) -> Provider:
    if settings.provider_name == "openai":
        return OpenAIProvider(
            client=client,
            base_url=settings.openai_base_url or DEFAULT_OPENAI_BASE_URL,
            api_key=settings.openai_api_key,
            default_model=settings.openai_model,
        )
    return DemoProvider(tokens_per_s=settings.demo_tokens_per_s)
