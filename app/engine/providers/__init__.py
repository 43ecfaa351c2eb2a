"""Providers, one module per wire format; ``build_registry`` makes the configured ones."""

from __future__ import annotations

import httpx

from app.engine.providers.anthropic import AnthropicProvider
from app.engine.providers.base import ChatMessage, ChatRequest, Provider, StreamEnd, StreamItem, TextDelta
from app.engine.providers.demo import DemoProvider
from app.engine.providers.ollama import OllamaProvider
from app.engine.providers.openai import OpenAIProvider
from app.engine.providers.openai_responses import OpenAIResponsesProvider
from app.engine.providers.registry import ModelChoice, ProviderRegistry, UnknownModel
from app.settings import DEFAULT_ANTHROPIC_BASE_URL, DEFAULT_OPENAI_BASE_URL, Settings, SettingsError

__all__ = [
    "ChatMessage",
    "ChatRequest",
    "ModelChoice",
    "Provider",
    "ProviderRegistry",
    "StreamEnd",
    "StreamItem",
    "TextDelta",
    "UnknownModel",
    "build_registry",
]


def build_registry(settings: Settings, client: httpx.AsyncClient) -> ProviderRegistry:
    offers: list[tuple[Provider, tuple[str, ...]]] = []
    if settings.openai_enabled:
        kind = OpenAIResponsesProvider if settings.openai_api == "responses" else OpenAIProvider
        provider = kind(
            client=client,
            base_url=settings.openai_base_url or DEFAULT_OPENAI_BASE_URL,
            api_key=settings.openai_api_key,
            default_model=settings.openai_model,
        )
        offers.append((provider, settings.openai_models))
    if settings.anthropic_enabled:
        provider = AnthropicProvider(
            client=client,
            base_url=settings.anthropic_base_url or DEFAULT_ANTHROPIC_BASE_URL,
            api_key=settings.anthropic_api_key,
            default_model=settings.anthropic_model,
        )
        offers.append((provider, settings.anthropic_models))
    if settings.ollama_enabled:
        provider = OllamaProvider(client=client, host=settings.ollama_host, default_model=settings.ollama_model)
        offers.append((provider, settings.ollama_models))
    if settings.demo_enabled or not offers:
        offers.append((DemoProvider(tokens_per_s=settings.demo_tokens_per_s), ()))
    try:
        return ProviderRegistry(offers, default=settings.default_model)
    except UnknownModel as exc:
        raise SettingsError(f"UNBROKEN_DEFAULT_MODEL: {exc}") from None
