"""The deployment files in deploy/ stay in step with the app: the environment example is a
configuration the app accepts, names only variables something reads, and the systemd unit
and compose file point at files that exist (the nginx config they use is the tested one)."""

from __future__ import annotations

import os
import re
from pathlib import Path

from app.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
# Read by Reflex or granian rather than by app/settings.py.
READ_ELSEWHERE = {"GRANIAN_WORKERS", "REFLEX_API_URL"}


def example_env() -> dict[str, str]:
    lines = (DEPLOY / "unbroken.env.example").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def test_the_environment_example_is_a_configuration_the_app_accepts():
    env = example_env()
    settings = Settings.from_env(env)
    assert settings.redis_url == env["REDIS_URL"] and settings.database_url == env["DATABASE_URL"]
    assert settings.auth == "password" and settings.run_lease_s == float(env["UNBROKEN_RUN_LEASE_S"])


def test_every_variable_in_the_example_is_read_by_something():
    read_by_settings = set(re.findall(r'"([A-Z][A-Z0-9_]+)"', (ROOT / "app" / "settings.py").read_text()))
    commented = re.findall(r"^#?([A-Z][A-Z0-9_]+)=", (DEPLOY / "unbroken.env.example").read_text(), re.M)
    unknown = set(commented) - read_by_settings - READ_ELSEWHERE
    assert not unknown


def test_the_service_and_compose_files_point_at_what_exists():
    unit = (DEPLOY / "systemd" / "unbroken.service").read_text()
    assert re.search(r"^ExecStart=/opt/unbroken/scripts/run$", unit, re.M)
    assert os.access(ROOT / "scripts" / "run", os.X_OK)
    compose = (DEPLOY / "compose" / "compose.yaml").read_text()
    assert "dockerfile: deploy/compose/Dockerfile" in compose and (DEPLOY / "compose" / "Dockerfile").is_file()
    assert "../nginx/unbroken.conf:/etc/nginx/conf.d/default.conf:ro" in compose  # the file the tests run
    assert "network_mode: service:app" in compose  # so that its 127.0.0.1:3000 is the app
