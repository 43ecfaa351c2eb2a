"""Settings read from the environment: the lifecycle log's content switch."""

from __future__ import annotations

import pytest

from app.settings import Settings, SettingsError


@pytest.mark.parametrize("env, logs_content", [({}, False), ({"UNBROKEN_LOG_CONTENT": "off"}, False),
                                               ({"UNBROKEN_LOG_CONTENT": "ON"}, True)])
def test_message_text_reaches_the_log_only_when_switched_on(env, logs_content):
    assert Settings.from_env(env).log_content is logs_content


def test_an_unclear_log_content_value_stops_the_start_naming_the_variable():
    with pytest.raises(SettingsError, match="UNBROKEN_LOG_CONTENT must be one of on, off"):
        Settings.from_env({"UNBROKEN_LOG_CONTENT": "maybe"})
