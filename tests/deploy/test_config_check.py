"""An instance without a login never listens where others can reach it: ``python -m
app.config_check`` says so and exits 2, and ``scripts/run`` stops there, before building."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def clean_env(**values: str) -> dict[str, str]:
    """The test process's environment without any Unbroken or provider setting, plus ``values``."""
    kept = {k: v for k, v in os.environ.items()
            if not k.startswith(("UNBROKEN_", "OPENAI_", "ANTHROPIC_", "OLLAMA_")) and k not in ("DATABASE_URL", "PORT")}
    return {**kept, **values}


def config_check(**values: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "app.config_check"], cwd=ROOT, env=clean_env(**values),
                          capture_output=True, text=True, timeout=60)


def test_no_login_on_every_address_refuses_to_start_naming_unbroken_auth():
    result = config_check(UNBROKEN_HOST="0.0.0.0")
    assert result.returncode == 2
    assert result.stderr.startswith("Unbroken will not start: UNBROKEN_HOST=0.0.0.0")
    assert "UNBROKEN_AUTH=password" in result.stderr and "UNBROKEN_AUTH=proxy" in result.stderr


def test_with_password_accounts_every_address_is_fine():
    result = config_check(UNBROKEN_HOST="0.0.0.0", UNBROKEN_AUTH="password")
    assert (result.returncode, result.stderr) == (0, "")


def test_proxy_mode_without_its_trusted_proxies_refuses_to_start():
    result = config_check(UNBROKEN_HOST="0.0.0.0", UNBROKEN_AUTH="proxy")
    assert result.returncode == 2 and "UNBROKEN_TRUSTED_PROXIES" in result.stderr


@pytest.mark.skipif(not (ROOT / ".venv" / "bin" / "python").exists(), reason="scripts/run needs the installed .venv")
def test_scripts_run_checks_the_configuration_before_building_or_binding():
    # Its own process group: should the check be skipped, the build it started is ended whole.
    process = subprocess.Popen(["scripts/run"], cwd=ROOT, env=clean_env(UNBROKEN_HOST="0.0.0.0"),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        stdout, stderr = process.communicate(timeout=120)  # installing what is installed, then the check
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        pytest.fail("scripts/run did not stop at the configuration check")
    assert process.returncode == 2, stdout + stderr
    assert "Unbroken will not start: UNBROKEN_HOST=0.0.0.0" in stderr
    assert "Unbroken will be at" not in stdout  # stopped before announcing (and building)
