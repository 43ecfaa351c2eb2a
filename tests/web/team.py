"""A team instance for the API tests: password accounts, the API on a real port, the fake
upstream behind it, and signed-in clients (each an httpx client with its own cookie jar)."""

from __future__ import annotations

import dataclasses
import time
import uuid

import httpx

from app.engine.service import ChatService
from app.settings import Settings
from app.web.asgi import build_api_app
from tests.conftest import provider_settings
from tests.fakes.server import ServerThread
from tests.fakes.upstream import FakeUpstream

PASSWORD = "correct horse battery"


@dataclasses.dataclass
class Team:
    url: str
    upstream: FakeUpstream

    def sign_up(self, name: str, **body) -> httpx.Client:
        """A new account, signed in: a client that sends its session cookie."""
        client = httpx.Client(base_url=self.url, timeout=15)
        response = client.post("/auth/signup", json={"name": name, "password": PASSWORD, **body})
        assert response.status_code == 200, response.text
        return client


TEAM_SETTINGS = {"auth": "password", "signup": "open"}


def start_team(settings: Settings, upstream: FakeUpstream, **overrides) -> tuple[Team, ServerThread]:
    """A team instance in this process (the ``team_of`` fixture's is on the test's database kind,
    three workers in a ``[workers]`` test)."""
    config = dataclasses.replace(settings, **{**TEAM_SETTINGS, **provider_settings(upstream, "openai"), **overrides})
    server = ServerThread(build_api_app(ChatService(config))).__enter__()
    return Team(server.url, upstream), server


def ask(client: httpx.Client, content: str = "Hi there", **body) -> httpx.Response:
    return client.post("/api/runs", json={"content": content, "client_request_id": uuid.uuid4().hex, **body})


def wait_until(condition, timeout_s: float = 15.0, what: str = "condition"):
    """Poll ``condition`` until it returns something truthy; fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def wait_ended(client: httpx.Client, run_id: str) -> dict:
    return wait_until(lambda: (view := client.get(f"/api/runs/{run_id}").json())["state"] in
                      ("complete", "failed", "stopped", "truncated", "interrupted") and view, what="the run's end")
