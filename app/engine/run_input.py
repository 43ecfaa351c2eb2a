"""What callers send the service, and how it is checked: the run request, conversation
settings, the parameters an answer is asked with, and the refusals callers map to HTTP statuses
and page notices (``InputError`` 400, ``Forbidden`` 403, ``NotFound`` 404, ``Conflict`` 409,
``TooLarge`` 413, ``OverLimit`` 429).

Values arrive unchecked (``object``) from JSON bodies and forms; the functions here turn them
into typed values or raise ``InputError`` with words a person can act on.
"""

from __future__ import annotations

import dataclasses

from app.engine.providers import ProviderRegistry, UnknownModel
from app.engine.rows import ConversationSettings, RunParams
from app.settings import MAX_TEMPERATURE, Settings

MAX_CLIENT_REQUEST_ID_CHARS = 200
MAX_TITLE_CHARS = 200
MAX_SYSTEM_PROMPT_CHARS = 20_000


class InputError(ValueError):
    """Input a user or client must fix; ``code`` is machine-readable, the message is for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class NotFound(LookupError):
    pass


class Forbidden(PermissionError):
    """The actor may not do this at all (an admin's action); the message says who may."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class TooLarge(InputError):
    """Input over a size limit (HTTP 413)."""


class OverLimit(RuntimeError):
    """A limit refuses the request before anything goes upstream (HTTP 429, with Retry-After)."""

    def __init__(self, code: str, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.code, self.message, self.retry_after_s = code, message, retry_after_s


class Conflict(RuntimeError):
    """The request does not fit the resource's current state (HTTP 409)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclasses.dataclass(frozen=True)
class RunRequest:
    """``POST /api/runs`` and the page's Send. Values arrive unchecked; the service checks them.

    ``model``, ``max_tokens``, ``temperature`` and ``system_prompt`` override the
    conversation's settings for this answer; a new conversation starts with them as its
    settings. ``edit_of``: the question this one replaces, as a new branch beside it."""

    content: object = None
    client_request_id: object = None
    conversation_id: object = None
    model: object = None
    max_tokens: object = None
    temperature: object = None
    system_prompt: object = None
    edit_of: object = None


def check_settings(registry: ProviderRegistry, max_tokens_cap: int, *, model: object = None,
                   system_prompt: object = None, max_tokens: object = None,
                   temperature: object = None) -> ConversationSettings:
    """Check conversation settings as a user sent them; None stays None (the default)."""
    if model is not None:
        if not isinstance(model, str) or not model.strip():
            raise InputError("bad_model", "model must be a non-empty string or null.")
        try:
            model = registry.resolve(model).id
        except UnknownModel as exc:
            raise InputError("unknown_model", str(exc)) from None
    if system_prompt is not None and (
        not isinstance(system_prompt, str) or len(system_prompt) > MAX_SYSTEM_PROMPT_CHARS
    ):
        raise InputError(
            "bad_system_prompt", f"system_prompt must be text of at most {MAX_SYSTEM_PROMPT_CHARS} characters."
        )
    cap = max_tokens_cap
    if max_tokens is not None and (
        isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or not 1 <= max_tokens <= cap
    ):
        raise InputError("bad_max_tokens", f"max_tokens must be a whole number from 1 to {cap}.")
    if temperature is not None:
        if isinstance(temperature, bool) or not isinstance(temperature, int | float) or not (
            0 <= temperature <= MAX_TEMPERATURE
        ):
            raise InputError("bad_temperature", f"temperature must be a number from 0 to {MAX_TEMPERATURE:g}.")
        temperature = float(temperature)
    return ConversationSettings(model=model, system_prompt=system_prompt, max_tokens=max_tokens,
                                temperature=temperature)


def run_params(registry: ProviderRegistry, settings: Settings, overrides: ConversationSettings,
               saved: ConversationSettings) -> RunParams:
    """This answer's parameters: what the request says, else the conversation's, else the defaults."""
    def pick(name: str, default):
        for source in (overrides, saved):
            if getattr(source, name) is not None:
                return getattr(source, name)
        return default

    try:
        choice = registry.resolve(pick("model", None))
    except UnknownModel as exc:  # the conversation's model is no longer configured
        raise InputError("unknown_model", f"{exc} Pick another model for this conversation.") from None
    return RunParams(
        provider=choice.provider,
        model=choice.model,
        max_tokens=pick("max_tokens", settings.default_max_tokens),
        temperature=pick("temperature", settings.default_temperature),
        system_prompt=pick("system_prompt", settings.system_prompt),
    )
