"""Provider settings an admin enters on the admin page, laid over the configuration.

An admin may set, per provider, an API key, a base URL and the models offered; each value is
an ``instance_setting`` row (``provider.<name>.<field>``) and wins over the environment's, and
removing it falls back to the environment's. Pure functions here: checking what an admin sent
(``check_changes``), merging (``effective``) and what an admin sees (``views``).

Invariant: a key goes in and never comes out. ``views`` says whether a key is set, never
which; refusals never quote what was sent.
"""

from __future__ import annotations

import dataclasses
import json
from urllib.parse import urlsplit

from app.engine.run_input import InputError
from app.settings import DEFAULT_ANTHROPIC_BASE_URL, DEFAULT_OPENAI_BASE_URL, Settings

KEY_PREFIX = "provider."
MAX_KEY_CHARS = 500
MAX_URL_CHARS = 500
MAX_MODELS = 50
MAX_MODEL_CHARS = 200

# Each provider's fields an admin may set → the Settings field they replace.
FIELDS: dict[str, dict[str, str]] = {
    "openai": {"api_key": "openai_api_key", "base_url": "openai_base_url", "models": "openai_models"},
    "anthropic": {"api_key": "anthropic_api_key", "base_url": "anthropic_base_url", "models": "anthropic_models"},
    "ollama": {"base_url": "ollama_host", "models": "ollama_models"},
}
PROVIDERS = tuple(FIELDS)
_DEFAULT_MODEL = {"openai": "openai_model", "anthropic": "anthropic_model", "ollama": "ollama_model"}
_DEFAULT_BASE_URL = {"openai": DEFAULT_OPENAI_BASE_URL, "anthropic": DEFAULT_ANTHROPIC_BASE_URL}
_ENABLED = {"openai": "openai_enabled", "anthropic": "anthropic_enabled", "ollama": "ollama_enabled"}


def setting_key(provider: str, field: str) -> str:
    return f"{KEY_PREFIX}{provider}.{field}"


def check_changes(provider: str, body: dict) -> dict[str, str | None]:
    """What an admin sent for one provider → the instance settings to write (None: remove,
    so the configuration's value applies again). Raises ``InputError``; nothing is stored
    then, and the message never repeats a value sent."""
    fields = FIELDS[provider]
    unknown = set(body) - set(fields)
    if unknown:
        raise InputError("unknown_field", f"{provider} takes {', '.join(fields)}; unknown: "
                                          f"{', '.join(sorted(map(str, unknown)))}.")
    if not body:
        raise InputError("nothing_to_change", f"Send at least one of {', '.join(fields)}.")
    checks = {"api_key": _check_key, "base_url": _check_url, "models": _check_models}
    return {setting_key(provider, field): checks[field](value) for field, value in body.items()}


def _check_key(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise InputError("bad_api_key", "api_key must be a non-empty string, or null to remove it.")
    value = value.strip()
    if len(value) > MAX_KEY_CHARS or not value.isprintable() or any(c.isspace() for c in value):
        raise InputError("bad_api_key", f"api_key must be at most {MAX_KEY_CHARS} printable characters "
                                        "without spaces.")
    return value


def _check_url(value: object) -> str | None:
    if value is None:
        return None
    message = "base_url must be an http:// or https:// URL (without a user name or password), or null."
    if not isinstance(value, str) or len(value.strip()) > MAX_URL_CHARS:
        raise InputError("bad_base_url", message)
    value = value.strip().rstrip("/")
    try:
        parts = urlsplit(value)
        port_ok = parts.port is None or parts.port > 0  # a port that is not a number raises
    except ValueError:
        raise InputError("bad_base_url", message) from None
    if (not port_ok or parts.scheme not in ("http", "https") or not parts.hostname or "@" in parts.netloc
            or parts.query or parts.fragment or not value.isprintable() or any(c.isspace() for c in value)):
        raise InputError("bad_base_url", message)
    return value


def _check_models(value: object) -> str | None:
    """Stored as a JSON list; an empty list or null removes the admin's list."""
    if value is None:
        return None
    if not isinstance(value, list) or len(value) > MAX_MODELS:
        raise InputError("bad_models", f"models must be a list of at most {MAX_MODELS} model names, or null.")
    names = []
    for name in value:
        if (not isinstance(name, str) or not name.strip() or len(name.strip()) > MAX_MODEL_CHARS
                or any(c.isspace() or not c.isprintable() or c == "," for c in name.strip())):
            raise InputError("bad_models", f"Each model name has 1 to {MAX_MODEL_CHARS} characters, without "
                                           "spaces or commas.")
        names.append(name.strip())
    return json.dumps(list(dict.fromkeys(names))) if names else None


def parse_models(text: str) -> list[str]:
    """A comma- or line-separated list as typed into a form → the names."""
    return [part.strip() for part in text.replace("\n", ",").split(",") if part.strip()]


def effective(configured: Settings, stored: dict[str, str]) -> Settings:
    """The configuration with the admin's values (``stored``: instance settings) over it."""
    changes: dict[str, object] = {}
    for provider, fields in FIELDS.items():
        for field, attribute in fields.items():
            value = stored.get(setting_key(provider, field))
            if value is not None:
                changes[attribute] = tuple(json.loads(value)) if field == "models" else value
    return dataclasses.replace(configured, **changes)


def views(settings: Settings, stored: dict[str, str]) -> list[dict]:
    """Each provider as an admin sees it: ``key_set`` but never the key; ``admin_set``: the
    fields whose value is the admin's (else the configuration's)."""
    shown = []
    for provider, fields in FIELDS.items():
        key_field = fields.get("api_key")
        base_url = getattr(settings, fields["base_url"]) or _DEFAULT_BASE_URL.get(provider)
        shown.append({
            "provider": provider,
            "enabled": getattr(settings, _ENABLED[provider]),
            "base_url": base_url,
            "models": list(getattr(settings, fields["models"])),
            "default_model": getattr(settings, _DEFAULT_MODEL[provider]),
            "key_set": bool(key_field and getattr(settings, key_field)),
            "admin_set": [field for field in fields if setting_key(provider, field) in stored],
        })
    return shown


def with_changes(stored: dict[str, str], changes: dict[str, str | None]) -> dict[str, str]:
    """The instance settings as they will be once ``changes`` are written."""
    merged = {**stored, **changes}
    return {key: value for key, value in merged.items() if value is not None}
