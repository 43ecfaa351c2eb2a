"""Provider settings an admin enters: checked, laid over the configuration, never shown back,
masked like configured keys, and still in force after a restart."""

from __future__ import annotations

import dataclasses
import json
import logging
import logging.handlers

import pytest

from app.engine.accounts import LOCAL, Actor
from app.engine.lifecycle_log import LOGGER_NAME, JsonLinesFormatter
from app.engine.provider_settings import check_changes, effective, parse_models, views, with_changes
from app.engine.run_input import Forbidden, InputError
from app.engine.service import ChatService
from app.settings import Settings

CONFIGURED = Settings(openai_api_key="configured-key", openai_models=("gpt-4o-mini",), ollama_host="http://ollama:11434")
ADMIN_KEY = "admin-entered-secret-value"


def test_the_admins_values_win_over_the_configuration_and_null_falls_back():
    stored = with_changes({}, check_changes("openai", {"api_key": ADMIN_KEY, "models": ["a", "b", "a"]}))
    merged = effective(CONFIGURED, stored)
    assert (merged.openai_api_key, merged.openai_models) == (ADMIN_KEY, ("a", "b"))
    cleared = with_changes(stored, check_changes("openai", {"api_key": None, "models": []}))
    assert cleared == {}
    assert effective(CONFIGURED, cleared) == CONFIGURED


def test_ollamas_base_url_is_its_host():
    stored = with_changes({}, check_changes("ollama", {"base_url": "https://gpu-box:11434/"}))
    assert effective(CONFIGURED, stored).ollama_host == "https://gpu-box:11434"


def test_views_say_whether_a_key_is_set_never_which():
    stored = with_changes({}, check_changes("anthropic", {"api_key": ADMIN_KEY}))
    shown = views(effective(CONFIGURED, stored), stored)
    assert ADMIN_KEY not in json.dumps(shown) and "configured-key" not in json.dumps(shown)
    by_name = {view["provider"]: view for view in shown}
    assert [by_name[name]["key_set"] for name in ("openai", "anthropic", "ollama")] == [True, True, False]
    assert by_name["anthropic"]["admin_set"] == ["api_key"] and by_name["openai"]["admin_set"] == []
    assert by_name["anthropic"]["base_url"] == "https://api.anthropic.com"


@pytest.mark.parametrize("body", [
    {"base_url": "javascript:alert(1)"}, {"base_url": "http://"}, {"base_url": "http://host:port"},
    {"base_url": "http://h/?q=1"}, {"api_key": 42}, {"api_key": "a\nb"}, {"models": [""]}, {"models": ["a,b"]},
    {"models": None, "extra": 1},
])
def test_bad_values_are_refused(body):
    with pytest.raises(InputError):
        check_changes("openai", body)


def test_a_refused_key_is_not_quoted_back():
    for key in ("sk-" + "x" * 600, "sk-with a space"):
        with pytest.raises(InputError) as refused:
            check_changes("anthropic", {"api_key": key})
        assert "sk-" not in refused.value.message


def test_models_typed_into_a_form_split_on_commas_and_lines():
    assert parse_models(" a, b\nc ,, ") == ["a", "b", "c"]


@pytest.fixture
def configured(settings):
    return dataclasses.replace(settings, openai_api_key="configured-key", openai_base_url="http://127.0.0.1:9/v1")


async def test_an_entered_key_is_masked_in_the_lifecycle_log_like_a_configured_one(configured):
    handler = logging.handlers.BufferingHandler(capacity=1000)
    handler.setFormatter(JsonLinesFormatter())
    service = ChatService(configured)
    await service.start()
    logger = logging.getLogger(LOGGER_NAME)
    logger.addHandler(handler)
    try:
        await service.set_provider(LOCAL, "openai", {"api_key": ADMIN_KEY})
        await service.set_provider(LOCAL, "openai", {"api_key": None})  # a key once entered stays masked
        service.telemetry.log.event("attempt_end", "r", error=f"rejected {ADMIN_KEY} and configured-key")
    finally:
        logger.removeHandler(handler)
        await service.close()
    assert ADMIN_KEY in service.secrets
    lines = [handler.format(record) for record in handler.buffer]
    assert lines and all(ADMIN_KEY not in line and "configured-key" not in line for line in lines)


async def test_only_an_admin_sees_or_changes_providers(configured):
    service = ChatService(configured)
    await service.start()
    try:
        with pytest.raises(Forbidden):
            await service.provider_views(Actor("u1", "bob"))
        with pytest.raises(Forbidden):
            await service.set_provider(Actor("u1", "bob"), "openai", {"api_key": ADMIN_KEY})
    finally:
        await service.close()


async def test_the_admins_settings_apply_again_after_a_restart(configured):
    service = ChatService(configured)
    await service.start()
    await service.set_provider(LOCAL, "openai", {"models": ["model-a", "model-b"]})
    await service.close()
    restarted = ChatService(configured)
    await restarted.start()
    try:
        assert [m.id for m in restarted.registry.models] == ["openai:model-a", "openai:model-b"]
        assert restarted.settings.openai_api_key == "configured-key"
    finally:
        await restarted.close()


async def test_settings_that_break_the_default_model_are_refused_and_not_stored(configured):
    service = ChatService(dataclasses.replace(configured, default_model="openai:gpt-4o-mini"))
    await service.start()
    try:
        with pytest.raises(InputError):
            await service.set_provider(LOCAL, "openai", {"models": ["other-model"]})
        assert await service.provider_views(LOCAL) == views(service.settings, {})
        assert [m.id for m in service.registry.models] == ["openai:gpt-4o-mini"]
    finally:
        await service.close()
