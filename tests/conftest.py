"""Shared fixtures: settings on a fresh database, the API on a real port, the fake upstream.

Every test that uses the database (``database_url``, hence ``settings``, ``service``,
``api_against``) runs once per database kind: on a fresh SQLite file and on a fresh database
of a throwaway Postgres cluster (``tests/fakes/postgres.py``), ids ``[sqlite]`` and
``[postgres]``. A test about SQLite itself is marked ``sqlite_only``. The API tests of runs
and conversations (protocol, resume, polling, upstream troubles, fallback, token cap, titles,
timeline, conversations, lifecycle log, metrics: any worker's shows them all) and of a team
(accounts, sign-in, admin, limits, isolation, the gate: ``team_of``) are marked ``workers``:
they run as ``[workers]`` instead of ``[postgres]``, where ``api_against`` is three worker
processes on Postgres and Redis behind nginx (``tests/fakes/workers.py``), each request and
reconnect on the next worker (one process on Postgres is what the engine tests and the other
API tests run on). Not marked: the API tests of one process's own state (its chaos switch,
the diagnostics' open-stream counts: each worker has its own) and those that need a server
in this process. If Postgres
or Redis cannot start, their tests fail; ``UNBROKEN_TEST_DATABASES=sqlite`` leaves them out
on purpose (a quicker local run; ``scripts/test`` always runs every kind).
"""

from __future__ import annotations

import dataclasses
import os

import pytest

from app.engine.service import ChatService
from app.settings import Settings
from app.web.asgi import build_api_app
from tests.fakes.postgres import PostgresCluster
from tests.fakes.redis import RedisServer
from tests.fakes.server import ServerThread
from tests.fakes.upstream import FakeUpstream
from tests.fakes.workers import WorkerDeployment

DATABASE_KINDS = ("sqlite", "postgres", "workers")
WORKER_LEASE_S = 2.0


def pytest_configure(config):
    config.addinivalue_line("markers", "sqlite_only: about SQLite itself (its file, backup, pre-Alembic databases)")
    config.addinivalue_line("markers", "workers: also runs against three workers on Postgres and Redis behind nginx "
                                       "(an API test: instead of one process on Postgres)")


def pytest_generate_tests(metafunc):
    if "database_url" in metafunc.fixturenames:
        wanted = os.environ.get("UNBROKEN_TEST_DATABASES", ",".join(DATABASE_KINDS)).split(",")
        unknown = set(wanted) - set(DATABASE_KINDS)
        if unknown:
            raise pytest.UsageError(f"UNBROKEN_TEST_DATABASES: unknown kinds {sorted(unknown)}")
        marked = {name for name in ("sqlite_only", "workers") if metafunc.definition.get_closest_marker(name)}
        # A [workers] test runs on Postgres already: one process on Postgres is left to the rest.
        fits = {"sqlite": True, "postgres": not marked, "workers": "workers" in marked}
        kinds = [kind for kind in DATABASE_KINDS if kind in wanted and fits[kind]]
        metafunc.parametrize("database_url", kinds, indirect=True)


@pytest.fixture(scope="session")
def postgres_cluster():
    """One Postgres server for the whole session, started by the first test that needs it."""
    with PostgresCluster() as cluster:
        yield cluster


@pytest.fixture(scope="session")
def redis_server():
    """One Redis server for the whole session, started by the first test that needs it."""
    with RedisServer() as server:
        yield server


@pytest.fixture
def database_url(request, tmp_path) -> str:
    """A fresh, empty database of the kind this test instance runs on."""
    if request.param in ("postgres", "workers"):
        return request.getfixturevalue("postgres_cluster").new_database()
    return f"sqlite:///{tmp_path}/unbroken.db"


@pytest.fixture
def settings(database_url) -> Settings:
    return Settings(
        database_url=database_url,
        demo_tokens_per_s=2000,
        heartbeat_interval_s=1.0,
        sse_retry_ms=100,
        retry_base_delay_s=0.05,
        retry_max_delay_s=0.2,
    )


@pytest.fixture
async def service(settings):
    chat = ChatService(settings)
    await chat.start()
    yield chat
    await chat.close()


@pytest.fixture
def upstream():
    with FakeUpstream() as fake:
        yield fake


TEST_KEY = "sk-test-key"


def provider_settings(upstream: FakeUpstream, provider: str, key: str = TEST_KEY) -> dict:
    """Settings that point one provider kind at the fake upstream."""
    return {
        "openai": {"openai_base_url": upstream.base_url, "openai_api_key": key},
        "responses": {"openai_base_url": upstream.base_url, "openai_api_key": key, "openai_api": "responses"},
        "anthropic": {"anthropic_base_url": upstream.url, "anthropic_api_key": key},
        "ollama": {"ollama_host": upstream.url},
    }[provider]


@pytest.fixture
def api_against(settings, request, tmp_path):
    """Start the API (no Reflex) on a real port against the given upstream, or the demo; in
    a ``[workers]`` test, three worker processes behind nginx (``.url`` is nginx's)."""
    servers = []
    workers = request.node.callspec.params.get("database_url") == "workers"

    def start(upstream: FakeUpstream | None = None, provider: str = "openai", **overrides):
        pointed = provider_settings(upstream, provider) if upstream is not None else {}
        config = dataclasses.replace(settings, **{**pointed, **overrides})
        if workers:
            config = dataclasses.replace(config, redis_url=request.getfixturevalue("redis_server").url,
                                         run_lease_s=WORKER_LEASE_S)
            server = WorkerDeployment(config, tmp_path / f"workers{len(servers)}")
        else:
            server = ServerThread(build_api_app(ChatService(config)))
        servers.append(server.__enter__())
        return server

    yield start
    for server in servers:
        server.__exit__(None, None, None)


@pytest.hookimpl(trylast=True)  # after pytest has grouped the items by their session fixtures
def pytest_collection_modifyitems(items):
    """Browser tests run last: sync Playwright keeps an event loop running in the main thread
    for the rest of the session, where pytest-asyncio could no longer start its own."""
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)
