"""The configured providers and the models a user may pick.

A model is named ``provider:model`` (``openai:gpt-4o-mini``, ``demo:demo``); a bare model
name is accepted when exactly one provider offers it. The first model listed is the default.
"""

from __future__ import annotations

import dataclasses

from app.engine.providers.base import Provider


@dataclasses.dataclass(frozen=True)
class ModelChoice:
    provider: str
    model: str
    label: str

    @property
    def id(self) -> str:
        return f"{self.provider}:{self.model}"


class UnknownModel(LookupError):
    pass


class ProviderRegistry:
    def __init__(self, offers: list[tuple[Provider, tuple[str, ...]]], default: str | None = None) -> None:
        """``offers``: each provider with the models it serves (its default model when empty);
        ``default``: the model preselected for new answers (else the first)."""
        if not offers:
            raise ValueError("at least one provider is needed")
        self.providers: dict[str, Provider] = {}
        self.models: list[ModelChoice] = []
        for provider, models in offers:
            self.providers[provider.name] = provider
            for model in models or (provider.default_model,):
                self.models.append(ModelChoice(provider.name, model, f"{model} · {provider.label}"))
        self.default = self.resolve(default) if default else self.models[0]

    @property
    def has_demo(self) -> bool:
        return any(p.is_demo for p in self.providers.values())

    def resolve(self, name: str | None) -> ModelChoice:
        if name is None:
            return self.default
        matches = [m for m in self.models if name in (m.id, m.model)]
        if len(matches) == 1:
            return matches[0]
        known = ", ".join(m.id for m in self.models)
        if not matches:
            raise UnknownModel(f"Unknown model {name!r}; configured: {known}.")
        raise UnknownModel(f"Model {name!r} is offered by several providers; name one of: {known}.")
