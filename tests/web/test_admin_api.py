"""The admin API over a real socket, with password accounts: only admins get in, a provider key
goes in and never comes out, and what an admin changes takes effect at once."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest

from app.engine.states import RunState
from tests.fakes.upstream import Answer


TERMINAL = {str(state) for state in RunState if state.is_terminal}
pytestmark = pytest.mark.workers
PASSWORD = "correct horse battery"
NEW_KEY = "sk-entered-by-the-admin-0123456789"
ADMIN_ROUTES = [
    ("GET", "/api/admin/users", None),
    ("PATCH", "/api/admin/users/{other}", {"disabled": True}),
    ("POST", "/api/admin/invites", None),
    ("GET", "/api/admin/signup", None),
    ("PUT", "/api/admin/signup", {"mode": "open"}),
    ("GET", "/api/admin/providers", None),
    ("PUT", "/api/admin/providers/openai", {"api_key": NEW_KEY}),
    ("PUT", "/api/chaos", {"enabled": True}),
    ("GET", "/metrics", None),
]


def sign_up(base: str, name: str) -> httpx.Client:
    """A client signed in as a new account (its session cookie in the client's jar)."""
    client = httpx.Client(base_url=base, timeout=10)
    answer = client.post("/auth/signup", json={"name": name, "password": PASSWORD})
    assert answer.status_code == 200, answer.text
    return client


@pytest.fixture
def team(api_against, upstream):
    """An instance with password accounts: ``admin`` (the first account) and ``bob``."""
    server = api_against(upstream, auth="password", signup="open")
    admin, bob = sign_up(server.url, "admin"), sign_up(server.url, "bob")
    yield admin, bob
    admin.close()
    bob.close()


def user_id(admin: httpx.Client, name: str) -> str:
    return next(u["id"] for u in admin.get("/api/admin/users").json()["users"] if u["name"] == name)


def start_run(client: httpx.Client, **body) -> httpx.Response:
    return client.post("/api/runs", json={"content": "Hi", "client_request_id": uuid.uuid4().hex, **body})


def run_to_end(client: httpx.Client, run_id: str, timeout_s: float = 20.0) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        run = client.get(f"/api/runs/{run_id}").json()
        if run["state"] in TERMINAL:
            return run
        time.sleep(0.05)
    raise AssertionError(f"run {run_id} did not end within {timeout_s} s")


def test_every_admin_route_refuses_a_user_who_is_not_admin(team):
    admin, bob = team
    other = user_id(admin, "admin")
    for method, path, body in ADMIN_ROUTES:
        answer = bob.request(method, path.format(other=other), json=body)
        assert answer.status_code == 403, (method, path, answer.text)
    assert admin.get("/api/admin/providers").json()["providers"][0]["key_set"] is True  # nothing changed


def test_a_provider_key_is_stored_but_never_sent_back(team, upstream):
    admin, _ = team
    put = admin.put("/api/admin/providers/openai", json={"api_key": NEW_KEY})
    assert put.status_code == 200, put.text
    got = admin.get("/api/admin/providers")
    for answer in (put, got):
        assert NEW_KEY not in answer.text
    openai = next(p for p in got.json()["providers"] if p["provider"] == "openai")
    assert openai["key_set"] is True and openai["admin_set"] == ["api_key"]
    assert set(openai) == {"provider", "enabled", "base_url", "models", "default_model", "key_set", "admin_set"}


def test_a_run_after_a_key_change_sends_the_new_key(team, upstream):
    admin, _ = team
    admin.put("/api/admin/providers/openai", json={"api_key": NEW_KEY}).raise_for_status()
    run = start_run(admin).json()
    assert run_to_end(admin, run["run_id"])["state"] == "complete"
    assert upstream.calls[-1]["headers"]["authorization"] == f"Bearer {NEW_KEY}"


def test_removing_the_admins_key_falls_back_to_the_configured_one(team, upstream):
    admin, _ = team
    admin.put("/api/admin/providers/openai", json={"api_key": NEW_KEY}).raise_for_status()
    admin.put("/api/admin/providers/openai", json={"api_key": None}).raise_for_status()
    run = start_run(admin).json()
    run_to_end(admin, run["run_id"])
    assert upstream.calls[-1]["headers"]["authorization"] == "Bearer sk-test-key"


def test_a_provider_the_admin_switches_on_serves_answers_at_once(team, upstream):
    admin, _ = team
    admin.put("/api/admin/providers/anthropic", json={"api_key": NEW_KEY, "base_url": upstream.url}).raise_for_status()
    run = start_run(admin, model="anthropic:claude-sonnet-4-5").json()
    assert run_to_end(admin, run["run_id"])["state"] == "complete"
    assert upstream.calls[-1]["path"] == "/v1/messages"
    assert upstream.calls[-1]["headers"]["x-api-key"] == NEW_KEY


def test_models_entered_by_the_admin_are_offered(team):
    admin, bob = team
    admin.put("/api/admin/providers/openai", json={"models": ["model-a", "model-b"]}).raise_for_status()
    offered = [m["id"] for m in bob.get("/api/models").json()["models"]]
    assert offered == ["openai:model-a", "openai:model-b"]


@pytest.mark.parametrize("provider, body", [
    ("openai", {"base_url": "ftp://example.com"}),
    ("openai", {"base_url": "https://user:secret@example.com/v1"}),
    ("openai", {"base_url": "not a url"}),
    ("openai", {"api_key": "x" * 501}),
    ("openai", {"api_key": ""}),
    ("openai", {"api_key": "two words"}),
    ("openai", {"models": [f"m{i}" for i in range(51)]}),
    ("openai", {"models": ["has space"]}),
    ("openai", {"models": "gpt-4o"}),
    ("openai", {"colour": "blue"}),
    ("openai", {}),
    ("ollama", {"api_key": "sk-ollama-takes-none"}),
])
def test_bad_provider_settings_are_refused_and_nothing_is_stored(team, provider, body):
    admin, _ = team
    before = admin.get("/api/admin/providers").json()
    answer = admin.put(f"/api/admin/providers/{provider}", json=body)
    assert answer.status_code == 400
    assert answer.json()["error"]["message"]
    for value in body.values():
        if isinstance(value, str) and len(value) > 3:
            assert value not in answer.text  # a refusal never quotes a key back
    assert admin.get("/api/admin/providers").json() == before


def test_an_unknown_provider_is_404(team):
    admin, _ = team
    assert admin.put("/api/admin/providers/nope", json={"api_key": NEW_KEY}).status_code == 404


def test_a_disabled_users_session_stops_working(team):
    admin, bob = team
    assert bob.get("/api/me").status_code == 200
    changed = admin.patch(f"/api/admin/users/{user_id(admin, 'bob')}", json={"disabled": True})
    assert changed.status_code == 200 and changed.json()["disabled"] is True
    assert bob.get("/api/me").status_code == 401


def test_an_admin_cannot_disable_themself_or_drop_their_own_role(team):
    admin, _ = team
    own = user_id(admin, "admin")
    for change in ({"disabled": True}, {"is_admin": False}):
        answer = admin.patch(f"/api/admin/users/{own}", json=change)
        assert answer.status_code == 409 and answer.json()["error"]["code"] == "own_account"
    assert admin.get("/api/me").json()["is_admin"] is True


def test_a_per_user_limit_refuses_that_users_second_concurrent_run(team, upstream):
    admin, bob = team
    upstream.set_script(Answer(text="slow " * 40, delay_s=0.05))
    changed = admin.patch(f"/api/admin/users/{user_id(admin, 'bob')}", json={"concurrent_runs": 1})
    assert changed.json()["concurrent_runs"] == 1
    first = start_run(bob)
    assert first.status_code == 201
    second = start_run(bob)
    assert second.status_code == 429 and second.json()["error"]["code"] == "too_many_runs"
    assert start_run(admin).status_code == 201  # the admin keeps the instance's default of 2
    bob.post(f"/api/runs/{first.json()['run_id']}/stop")
