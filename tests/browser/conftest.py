"""The real app (``scripts/run``: production build, one port) and headless Chromium.

One app per test session — every start rebuilds the frontend, and two builds must not share
the checkout's ``.web`` at once. Each test gets a fresh browser context.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import sync_playwright

from tests.fakes.server import free_port
from tests.fakes.upstream import FakeUpstream

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = os.environ.get("UNBROKEN_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DEMO_TOKENS_PER_S = 25
START_TIMEOUT_S = 600


class RunningApp:
    def __init__(self, url: str, process: subprocess.Popen, log_path: Path) -> None:
        self.url, self.process, self.log_path = url, process, log_path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def _wait_until_ready(url: str, process: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"scripts/run exited with {process.returncode}:\n{log_path.read_text()[-4000:]}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the app did not answer within {START_TIMEOUT_S} s")


FAKE_MODEL = "fake-model"
FAKE_KEY = "sk-browser-test-key"


@pytest.fixture(scope="session")
def fake_upstream():
    """An OpenAI-compatible fake beside the demo: tests pick it with the model picker."""
    with FakeUpstream() as fake:
        yield fake


@pytest.fixture(scope="session")
def app_server(tmp_path_factory, fake_upstream):
    data = tmp_path_factory.mktemp("app")
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "ANTHROPIC_", "OLLAMA_"))},
        "PORT": str(port),
        "DATABASE_URL": f"sqlite:///{data}/unbroken.db",
        "UNBROKEN_DEMO_TOKENS_PER_S": str(DEMO_TOKENS_PER_S),
        "UNBROKEN_HEARTBEAT_S": "1",
        "UNBROKEN_SSE_RETRY_MS": "300",
        "UNBROKEN_DEMO": "on",
        "UNBROKEN_DEFAULT_MODEL": "demo:demo",
        "OPENAI_BASE_URL": fake_upstream.base_url,
        "OPENAI_API_KEY": FAKE_KEY,
        "OPENAI_MODEL": FAKE_MODEL,
    }
    log_path = data / "app.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            ["scripts/run"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_ready(url, process, log_path)
        yield RunningApp(url, process, log_path)
    finally:
        _stop_group(process)


def _stop_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        pass


@pytest.fixture(scope="session")
def browser():
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def context(browser, request):
    context = browser.new_context(viewport={"width": 1100, "height": 800})
    context.set_default_timeout(30_000)
    yield context
    context.close()


@pytest.fixture
def screenshot():
    ARTIFACTS.mkdir(exist_ok=True)

    def save(page, name: str) -> Path:
        path = ARTIFACTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return save
