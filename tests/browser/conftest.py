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

import pytest
from playwright.sync_api import sync_playwright

from tests.browser.team_app import TeamApp, canary_key, copy_checkout, team_env
from tests.fakes.nginx import NginxProxy
from tests.fakes.server import free_port, wait_until_healthy
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
    """``scripts/run`` in its own process group; can be killed (-9) and started again."""

    def __init__(self, port: int, env: dict[str, str], log_path: Path, cwd: Path = ROOT) -> None:
        self.port, self.env, self.log_path, self.cwd = port, env, log_path, cwd
        self.url = f"http://127.0.0.1:{port}"
        self.process: subprocess.Popen | None = None
        self.proxy_port: int | None = None  # where the proxy tests put a proxy in front of it

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def start(self, **env_overrides: str) -> None:
        with open(self.log_path, "a") as log:
            self.process = subprocess.Popen(
                ["scripts/run"], cwd=self.cwd, env={**self.env, **env_overrides}, stdout=log,
                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            )
        wait_until_healthy(self.url, self.process, self.log_path, START_TIMEOUT_S, what="scripts/run")

    def kill(self) -> None:
        """``kill -9`` of the whole server (supervisor and worker): no shutdown code runs."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.kill()
        except ProcessLookupError:
            pass


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
    # The proxy tests (nginx, the TCP proxy that cuts connections) put a proxy on this port in
    # front of the app. The page they load through it opens Reflex's websocket on the app's own
    # port (another origin), so the app is told to accept that origin.
    proxy_port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "ANTHROPIC_", "OLLAMA_"))},
        "PORT": str(free_port()),
        "DATABASE_URL": f"sqlite:///{data}/unbroken.db",
        "UNBROKEN_DEMO_TOKENS_PER_S": str(DEMO_TOKENS_PER_S),
        "UNBROKEN_HEARTBEAT_S": "1",
        "UNBROKEN_SSE_RETRY_MS": "300",
        "UNBROKEN_DEMO": "on",
        "UNBROKEN_DEFAULT_MODEL": "demo:demo",
        "OPENAI_BASE_URL": fake_upstream.base_url,
        "OPENAI_API_KEY": FAKE_KEY,
        "OPENAI_MODEL": FAKE_MODEL,
        "UNBROKEN_ALLOWED_ORIGINS": f"http://127.0.0.1:{proxy_port}",
        # Many tests share the one local user, and some leave an answer streaming: the limit of
        # answers at once (2 by default) is tested on the team app (test_team.py), not here.
        "UNBROKEN_CONCURRENT_RUNS": "50",
    }
    app = RunningApp(int(env["PORT"]), env, data / "app.log")
    app.proxy_port = proxy_port
    try:
        app.start()
        yield app
    finally:
        app.stop()


@pytest.fixture(scope="module")
def team_app(tmp_path_factory):
    """A second app in password mode (tests/browser/team_app.py), from a copy of the checkout
    with its own build, fake upstream and database; one per test module that uses it."""
    directory = tmp_path_factory.mktemp("team")
    (checkout := directory / "checkout").mkdir()
    (data := directory / "data").mkdir()
    with FakeUpstream() as upstream:
        started = time.monotonic()
        copy_checkout(ROOT, checkout)
        key, nginx_port = canary_key(), free_port()
        env = team_env(dict(os.environ), data, upstream, FAKE_MODEL, nginx_port, key)
        app = RunningApp(int(env["PORT"]), env, data / "app.log", cwd=checkout)
        try:
            app.start()
            yield TeamApp(app, upstream, checkout, data / "unbroken.db", key, nginx_port, time.monotonic() - started)
        finally:
            app.stop()


@pytest.fixture
def nginx_in_front(app_server):
    """``nginx_in_front(mode)`` → a started ``NginxProxy`` (tests/fakes/nginx.py) in front of
    the session's app, ``mode`` "streaming" (deploy/nginx/unbroken.conf) or "buffering";
    browse to its ``.url``. Each one is stopped after the test."""
    started: list[NginxProxy] = []

    def start(mode: str = "streaming") -> NginxProxy:
        proxy = NginxProxy(app_server.port, mode, port=app_server.proxy_port).__enter__()
        started.append(proxy)
        return proxy

    yield start
    for proxy in started:
        proxy.__exit__(None, None, None)


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
