"""The real app (``scripts/run``: production build, one port) and headless Chromium.

``app_server`` is one app per test session — every start rebuilds the frontend, and two
builds must not share the checkout's ``.web`` at once — and each test gets a fresh browser
context. A test marked ``workers`` runs twice: ``[one]`` against that app (one process, a
SQLite file) and ``[workers]`` against ``workers_app``: the same app with three granian
workers on a Postgres database and the test redis-server, behind nginx running
deploy/nginx/unbroken.conf (its ``url`` and ``port`` are nginx's), built from a copy of the
checkout. Both apps live for the whole session. ``team_app`` (password mode) is built per
module that uses it, as one process and as three workers.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from tests.browser.team_app import TeamApp, canary_key, copy_checkout, team_env, without_app_settings
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
WORKERS = 3  # granian workers of workers_app
START_TIMEOUT_S = 600


class RunningApp:
    """``scripts/run`` in its own process group; can be killed (-9) and started again."""

    def __init__(self, port: int, env: dict[str, str], log_path: Path, cwd: Path = ROOT,
                 front: NginxProxy | None = None) -> None:
        """``front``: nginx in front of it, which then is its ``url`` and ``port``."""
        self.env, self.log_path, self.cwd, self.front = env, log_path, cwd, front
        self.port = front.port if front is not None else port
        self.url = f"http://127.0.0.1:{self.port}"
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


APP_KINDS = ("one", "workers")


def pytest_generate_tests(metafunc):
    if "app_server" in metafunc.fixturenames:
        kinds = APP_KINDS if metafunc.definition.get_closest_marker("workers") else APP_KINDS[:1]
        metafunc.parametrize("app_kind", kinds, indirect=True, scope="session")


@pytest.fixture(scope="session")
def app_kind(request) -> str:
    return request.param


@pytest.fixture(scope="session")
def app_server(app_kind, request) -> RunningApp:
    return request.getfixturevalue("one_app" if app_kind == "one" else "workers_app")


def chat_app_env(fake_upstream: FakeUpstream, *origin_ports: int) -> dict[str, str]:
    """The settings of the app the chat tests run against (the database left to the caller):
    the demo and the fake upstream as models, every answer at a known pace."""
    return {
        **without_app_settings(dict(os.environ)),
        "PORT": str(free_port()),
        "UNBROKEN_DEMO_TOKENS_PER_S": str(DEMO_TOKENS_PER_S),
        "UNBROKEN_HEARTBEAT_S": "1",
        "UNBROKEN_SSE_RETRY_MS": "300",
        "UNBROKEN_DEMO": "on",
        "UNBROKEN_DEFAULT_MODEL": "demo:demo",
        "OPENAI_BASE_URL": fake_upstream.base_url,
        "OPENAI_API_KEY": FAKE_KEY,
        "OPENAI_MODEL": FAKE_MODEL,
        # Pages loaded through a proxy on these ports open Reflex's websocket on the app's own
        # port (another origin), so the app is told to accept their origin.
        "UNBROKEN_ALLOWED_ORIGINS": ",".join(f"http://127.0.0.1:{port}" for port in origin_ports),
        # Many tests share the one local user, and some leave an answer streaming: the limit of
        # answers at once (2 by default) is tested on the team app (test_team.py), not here.
        "UNBROKEN_CONCURRENT_RUNS": "50",
    }


@pytest.fixture(scope="session")
def one_app(tmp_path_factory, fake_upstream):
    data = tmp_path_factory.mktemp("app")
    # The proxy tests (nginx, the TCP proxy that cuts connections) put a proxy on this port.
    proxy_port = free_port()
    env = {**chat_app_env(fake_upstream, proxy_port), "DATABASE_URL": f"sqlite:///{data}/unbroken.db"}
    app = RunningApp(int(env["PORT"]), env, data / "app.log")
    app.proxy_port = proxy_port
    try:
        app.start()
        yield app
    finally:
        app.stop()


@pytest.fixture(scope="session")
def workers_app(tmp_path_factory, fake_upstream, postgres_cluster, redis_server):
    directory = tmp_path_factory.mktemp("workers")
    (checkout := directory / "checkout").mkdir()
    (data := directory / "data").mkdir()
    copy_checkout(ROOT, checkout)
    nginx_port, proxy_port = free_port(), free_port()
    env = {
        **chat_app_env(fake_upstream, nginx_port, proxy_port),
        "DATABASE_URL": postgres_cluster.new_database(),
        "REDIS_URL": redis_server.url,
        "GRANIAN_WORKERS": str(WORKERS),
        "UNBROKEN_RUN_LEASE_S": "2",  # a killed worker's runs are taken over within seconds
    }
    with NginxProxy(int(env["PORT"]), "streaming", port=nginx_port) as nginx:
        app = RunningApp(int(env["PORT"]), env, data / "app.log", cwd=checkout, front=nginx)
        app.proxy_port, app.database_url = proxy_port, env["DATABASE_URL"]
        try:
            app.start()
            yield app
        finally:
            app.stop()


@pytest.fixture(scope="module", params=["one", "workers"])
def team_app(request, tmp_path_factory):
    """A second app in password mode (tests/browser/team_app.py), from a copy of the checkout
    with its own build, fake upstream and database; one per test module that uses it, twice:
    ``[one]`` one process on a SQLite file, ``[workers]`` three granian workers on a Postgres
    database of its own and the test redis-server (a Redis database other than workers_app's)."""
    directory = tmp_path_factory.mktemp("team")
    (checkout := directory / "checkout").mkdir()
    (data := directory / "data").mkdir()
    with FakeUpstream() as upstream:
        started = time.monotonic()
        copy_checkout(ROOT, checkout)
        key, nginx_port = canary_key(), free_port()
        env = team_env(dict(os.environ), data, upstream, FAKE_MODEL, nginx_port, key)
        if request.param == "workers":
            env.update(DATABASE_URL=request.getfixturevalue("postgres_cluster").new_database(),
                       REDIS_URL=request.getfixturevalue("redis_server").database_url(1),
                       GRANIAN_WORKERS=str(WORKERS))
        app = RunningApp(int(env["PORT"]), env, data / "app.log", cwd=checkout)
        try:
            app.start()
            yield TeamApp(app, upstream, checkout, env["DATABASE_URL"], key, nginx_port, time.monotonic() - started)
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
