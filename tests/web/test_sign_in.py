"""Accounts over HTTP: sign-up rules, hashed passwords, throttled sign-ins, sessions and API
tokens, proxy users — and the first account taking over what the instance held before."""

from __future__ import annotations

import httpx
import pytest

from app.engine.identity import SESSION_COOKIE
from tests import stored
from tests.fakes.upstream import Answer
from tests.web.team import PASSWORD, ask, start_team, wait_ended


@pytest.mark.workers
def test_passwords_are_stored_as_argon2id_hashes_only(team_of, settings):
    team = team_of()
    team.sign_up("alice")
    [(hashed,)] = stored.rows(settings.database_url, """SELECT password_hash FROM "user" WHERE name = 'alice'""")
    assert hashed.startswith("$argon2id$")
    assert PASSWORD not in hashed
    assert PASSWORD.encode() not in stored.everything(settings.database_url)


@pytest.mark.workers
def test_sign_in_is_throttled_after_repeated_failures_even_with_the_right_password(team_of):
    team = team_of(login_max_failures=5, login_lockout_s=60)
    team.sign_up("alice")
    client = httpx.Client(base_url=team.url, timeout=10)
    for _ in range(5):
        assert client.post("/auth/login", json={"name": "alice", "password": "wrong guess"}).status_code == 401
    locked = client.post("/auth/login", json={"name": "alice", "password": PASSWORD})
    assert locked.status_code == 429
    assert 1 <= int(locked.headers["Retry-After"]) <= 60
    assert SESSION_COOKIE not in locked.cookies
    # The address is locked too: other names from it wait as well.
    assert client.post("/auth/login", json={"name": "bob", "password": "x" * 8}).status_code == 429


@pytest.mark.workers
def test_a_form_sign_in_sets_an_httponly_samesite_cookie_and_redirects_to_a_local_path(team_of):
    team = team_of()
    team.sign_up("alice")
    client = httpx.Client(base_url=team.url, timeout=10)
    response = client.post("/auth/login", data={"name": "alice", "password": PASSWORD, "next": "/c/abc"})
    assert response.status_code == 303
    assert response.headers["location"] == "/c/abc"
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # plain http, no trusted proxy saying otherwise
    # An absolute or scheme-relative target is never followed (no open redirect).
    for target in ("https://evil.example/", "//evil.example/"):
        bounced = client.post("/auth/login", data={"name": "alice", "password": PASSWORD, "next": target})
        assert bounced.headers["location"] == "/"


def test_behind_a_trusted_https_proxy_the_cookie_is_secure(team_of):
    team = team_of(trusted_proxies=("127.0.0.1",))
    team.sign_up("alice")
    response = httpx.post(f"{team.url}/auth/login", json={"name": "alice", "password": PASSWORD},
                          headers={"X-Forwarded-Proto": "https"})
    assert "Secure" in response.headers["set-cookie"]


@pytest.mark.workers
def test_invite_only_sign_up_needs_an_unused_invite(team_of):
    team = team_of(signup="invite")
    admin = team.sign_up("admin")  # the first account needs no invite
    refused = httpx.post(f"{team.url}/auth/signup", json={"name": "bob", "password": PASSWORD})
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "signup_closed"
    code = admin.post("/api/admin/invites").json()["code"]
    team.sign_up("bob", invite=code)
    reused = httpx.post(f"{team.url}/auth/signup", json={"name": "carol", "password": PASSWORD, "invite": code})
    assert reused.status_code == 400
    closed = admin.put("/api/admin/signup", json={"mode": "closed"})
    assert closed.json() == {"mode": "closed"}
    fresh = admin.post("/api/admin/invites").json()["code"]
    assert httpx.post(f"{team.url}/auth/signup",
                      json={"name": "dave", "password": PASSWORD, "invite": fresh}).status_code == 400


@pytest.mark.workers
def test_signing_out_ends_the_session_and_disabling_a_user_ends_theirs(team_of):
    team = team_of()
    admin, bob = team.sign_up("admin"), team.sign_up("bob")
    assert bob.get("/api/me").json()["name"] == "bob"
    bob_id = bob.get("/api/me").json()["id"]
    assert admin.patch(f"/api/admin/users/{bob_id}", json={"disabled": True}).status_code == 200
    assert bob.get("/api/me").status_code == 401
    assert httpx.post(f"{team.url}/auth/login", json={"name": "bob", "password": PASSWORD}).status_code == 401
    assert admin.patch(f"/api/admin/users/{admin.get('/api/me').json()['id']}",
                       json={"disabled": True}).status_code == 409
    session = admin.cookies[SESSION_COOKIE]
    admin.post("/auth/logout")
    assert httpx.get(f"{team.url}/api/me", cookies={SESSION_COOKIE: session}).status_code == 401


@pytest.mark.workers
def test_api_tokens_sign_requests_until_revoked(team_of):
    team = team_of()
    alice = team.sign_up("alice")
    created = alice.post("/api/tokens", json={"name": "my script"}).json()
    assert created["token"].startswith("ubk_")
    bearer = httpx.Client(base_url=team.url, headers={"Authorization": f"Bearer {created['token']}"}, timeout=10)
    assert bearer.get("/api/me").json()["name"] == "alice"
    listed = alice.get("/api/tokens").json()["tokens"]
    assert [t["name"] for t in listed] == ["my script"] and "token" not in listed[0]
    assert listed[0]["last_used_at"] is not None
    assert alice.delete(f"/api/tokens/{created['id']}").status_code == 204
    assert bearer.get("/api/me").status_code == 401
    assert httpx.get(f"{team.url}/api/me", headers={"Authorization": "Bearer ubk_made-up"}).status_code == 401


@pytest.mark.workers
def test_without_a_user_the_api_answers_401_and_pages_send_to_sign_in(team_of):
    team = team_of()
    assert httpx.get(f"{team.url}/api/conversations").status_code == 401
    assert httpx.post(f"{team.url}/api/runs", json={"content": "hi", "client_request_id": "x"}).status_code == 401
    page = httpx.get(f"{team.url}/c/abc?x=1")
    assert page.status_code == 303
    assert page.headers["location"] == "/login?next=%2Fc%2Fabc%3Fx%3D1"
    assert httpx.get(f"{team.url}/login").status_code == 200
    assert httpx.get(f"{team.url}/healthz").status_code == 200


def test_the_first_account_takes_over_what_the_single_user_instance_held(settings, upstream):
    upstream.set_script(Answer(text="Kept across the switch."))
    solo, server = start_team(settings, upstream, auth="none")
    with httpx.Client(base_url=solo.url, timeout=10) as local:
        run_id = ask(local, "Before accounts").json()["run_id"]
        wait_ended(local, run_id)
    server.__exit__(None, None, None)
    team, server = start_team(settings, upstream)  # same database, now with accounts
    try:
        alice = team.sign_up("alice")
        assert alice.get("/api/me").json()["is_admin"] is True
        assert [c["title"] for c in alice.get("/api/conversations").json()["conversations"]] == ["Before accounts"]
        bob = team.sign_up("bob")
        assert bob.get("/api/me").json()["is_admin"] is False
        assert bob.get("/api/conversations").json()["conversations"] == []
    finally:
        server.__exit__(None, None, None)


def test_proxy_mode_believes_the_user_header_only_from_trusted_addresses(settings, upstream):
    for trusted, expected in ((("127.0.0.1",), 200), (("10.9.9.9",), 401)):
        team, server = start_team(settings, upstream, auth="proxy", trusted_proxies=trusted)
        try:
            response = httpx.get(f"{team.url}/api/me", headers={"Remote-User": "Carol"})
            assert response.status_code == expected
            if expected == 200:
                assert response.json()["name"] == "carol"
        finally:
            server.__exit__(None, None, None)

