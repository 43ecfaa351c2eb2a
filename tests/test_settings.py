"""Settings read from the environment: the lifecycle log's content switch, and who may use an
instance (auth mode, exposure, trusted proxies, allowed origins, sign-up, per-user limits)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.settings import Settings, SettingsError

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("env, logs_content", [({}, False), ({"UNBROKEN_LOG_CONTENT": "off"}, False),
                                               ({"UNBROKEN_LOG_CONTENT": "ON"}, True)])
def test_message_text_reaches_the_log_only_when_switched_on(env, logs_content):
    assert Settings.from_env(env).log_content is logs_content


def test_an_unclear_log_content_value_stops_the_start_naming_the_variable():
    with pytest.raises(SettingsError, match="UNBROKEN_LOG_CONTENT must be one of on, off"):
        Settings.from_env({"UNBROKEN_LOG_CONTENT": "maybe"})


def test_without_configuration_there_is_no_login_and_only_loopback_listens():
    settings = Settings.from_env({})
    assert (settings.auth, settings.host, settings.signup) == ("none", "127.0.0.1", "invite")
    assert (settings.trusted_proxies, settings.proxy_user_header, settings.allowed_origins) == ((), "Remote-User", ())
    assert (settings.session_days, settings.login_max_failures, settings.login_lockout_s) == (30.0, 5, 60.0)
    assert (settings.messages_per_minute, settings.concurrent_runs) == (60, 2)


@pytest.mark.parametrize("auth", ["password", "PROXY", "none"])
def test_the_auth_mode_is_one_of_three(auth):
    env = {"UNBROKEN_AUTH": auth, "UNBROKEN_TRUSTED_PROXIES": "127.0.0.1"}
    assert Settings.from_env(env).auth == auth.lower()


def test_an_unknown_auth_mode_stops_the_start_naming_the_variable():
    with pytest.raises(SettingsError, match="UNBROKEN_AUTH must be one of none, password, proxy, got 'ldap'"):
        Settings.from_env({"UNBROKEN_AUTH": "ldap"})


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "chat.example.com"])
def test_no_login_on_an_address_others_can_reach_is_refused_naming_the_way_out(host):
    with pytest.raises(SettingsError, match=r"UNBROKEN_AUTH is none.*Set UNBROKEN_AUTH=password.*127\.0\.0\.1"):
        Settings.from_env({"UNBROKEN_HOST": host})


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_no_login_is_fine_on_loopback(host):
    assert Settings.from_env({"UNBROKEN_HOST": host}).host == host


@pytest.mark.parametrize("env", [{"UNBROKEN_AUTH": "password"},
                                 {"UNBROKEN_AUTH": "proxy", "UNBROKEN_TRUSTED_PROXIES": "10.0.0.5"}])
def test_with_a_login_any_address_may_be_bound(env):
    assert Settings.from_env({**env, "UNBROKEN_HOST": "0.0.0.0"}).host == "0.0.0.0"


def test_proxy_mode_without_trusted_proxies_is_refused():
    with pytest.raises(SettingsError, match="UNBROKEN_AUTH=proxy needs UNBROKEN_TRUSTED_PROXIES"):
        Settings.from_env({"UNBROKEN_AUTH": "proxy"})


def test_trusted_proxies_take_addresses_and_networks_and_the_header_name():
    settings = Settings.from_env({"UNBROKEN_AUTH": "proxy", "UNBROKEN_TRUSTED_PROXIES": "127.0.0.1, 10.0.0.0/8, ::1",
                                  "UNBROKEN_PROXY_USER_HEADER": "X-Forwarded-User"})
    assert settings.trusted_proxies == ("127.0.0.1", "10.0.0.0/8", "::1")
    assert settings.proxy_user_header == "X-Forwarded-User"


@pytest.mark.parametrize("value", ["10.0.0.0/33", "proxy.internal", "127.0.0.1,300.1.1.1"])
def test_a_trusted_proxy_that_is_not_an_address_or_network_is_refused(value):
    with pytest.raises(SettingsError, match="UNBROKEN_TRUSTED_PROXIES: .* is not an address or network"):
        Settings.from_env({"UNBROKEN_TRUSTED_PROXIES": value})


def test_allowed_origins_are_origins_as_browsers_send_them():
    env = {"UNBROKEN_ALLOWED_ORIGINS": "https://chat.example.com, http://localhost:8080"}
    assert Settings.from_env(env).allowed_origins == ("https://chat.example.com", "http://localhost:8080")


@pytest.mark.parametrize("value", ["https://x.com/path", "https://x.com/", "x.com", "ftp://x.com", "https://"])
def test_an_allowed_origin_with_a_path_or_without_a_scheme_is_refused(value):
    with pytest.raises(SettingsError, match="UNBROKEN_ALLOWED_ORIGINS: .* is not an origin like https://"):
        Settings.from_env({"UNBROKEN_ALLOWED_ORIGINS": value})


@pytest.mark.parametrize("value", ["open", "invite", "closed"])
def test_sign_up_starts_open_invite_only_or_closed(value):
    assert Settings.from_env({"UNBROKEN_SIGNUP": value}).signup == value


def test_an_unknown_sign_up_mode_is_refused():
    with pytest.raises(SettingsError, match="UNBROKEN_SIGNUP must be one of open, invite, closed"):
        Settings.from_env({"UNBROKEN_SIGNUP": "everyone"})


def test_per_user_limits_and_login_throttling_are_configurable():
    settings = Settings.from_env({"UNBROKEN_MESSAGES_PER_MINUTE": "10", "UNBROKEN_CONCURRENT_RUNS": "1",
                                  "UNBROKEN_LOGIN_MAX_FAILURES": "3", "UNBROKEN_LOGIN_LOCKOUT_S": "120",
                                  "UNBROKEN_SESSION_DAYS": "7"})
    assert (settings.messages_per_minute, settings.concurrent_runs) == (10, 1)
    assert (settings.login_max_failures, settings.login_lockout_s, settings.session_days) == (3, 120.0, 7.0)


@pytest.mark.parametrize("name", ["UNBROKEN_MESSAGES_PER_MINUTE", "UNBROKEN_CONCURRENT_RUNS",
                                  "UNBROKEN_LOGIN_MAX_FAILURES"])
def test_a_limit_below_one_is_refused_naming_it(name):
    with pytest.raises(SettingsError, match=f"{name} must be between 1"):
        Settings.from_env({name: "0"})


@pytest.mark.parametrize("redis_url", ["redis://127.0.0.1:6390/0", None])
def test_reflex_keeps_its_state_in_the_redis_of_redis_url(redis_url):
    """With several workers, a tab's websocket may land on any of them: Reflex must find the
    tab's state in the same Redis (rxconfig.py), not in one worker's memory."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("UNBROKEN_", "REFLEX_", "REDIS_"))}
    if redis_url:
        env["REDIS_URL"] = redis_url
    done = subprocess.run([sys.executable, "-c", "import rxconfig; print(rxconfig.config.redis_url)"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == str(redis_url)
