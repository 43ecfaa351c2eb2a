"""The gate in front of everything: cross-site requests refused before they reach a handler
(so no upstream call), no CORS for unconfigured origins, security headers on every answer,
and a page CSP that allows exactly the page's own inline scripts."""

from __future__ import annotations

import base64
import hashlib
import uuid

import httpx
import pytest
from starlette.datastructures import Headers

from app.web.access import inline_script_hashes, is_public, page_csp, refuses_origin
from tests.fakes.upstream import Answer
from tests.web.team import ask, wait_ended

EVIL = "http://evil.example"


@pytest.fixture
def team(team_of, upstream):
    upstream.set_script(Answer(text="fine"))
    return team_of(allowed_origins=("https://partner.example",))


@pytest.mark.workers
def test_a_cross_origin_request_with_a_valid_session_is_refused_and_never_reaches_the_upstream(team, upstream):
    alice = team.sign_up("alice")
    body = {"content": "Transfer everything", "client_request_id": uuid.uuid4().hex}
    refused = alice.post("/api/runs", json=body, headers={"Origin": EVIL})
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "cross_origin"
    no_origin_but_cross_site = alice.post("/api/runs", json=body, headers={"Sec-Fetch-Site": "cross-site"})
    assert no_origin_but_cross_site.status_code == 403
    assert alice.get("/api/conversations").json()["conversations"] == []
    assert upstream.calls == []
    for response in (refused, no_origin_but_cross_site):
        assert "access-control-allow-origin" not in response.headers

    own = alice.post("/api/runs", json=body, headers={"Origin": team.url, "Sec-Fetch-Site": "same-origin"})
    assert own.status_code == 201
    assert wait_ended(alice, own.json()["run_id"])["state"] == "complete"
    assert ask(alice, "from a script (no Origin header)").status_code == 201
    configured = alice.post("/api/runs", json={**body, "client_request_id": uuid.uuid4().hex},
                            headers={"Origin": "https://partner.example"})
    assert configured.status_code == 201


@pytest.mark.workers
def test_safe_requests_from_another_origin_get_no_cors_permission(team):
    alice = team.sign_up("alice")
    for response in (
        alice.get("/api/conversations", headers={"Origin": EVIL}),
        alice.options("/api/runs", headers={"Origin": EVIL, "Access-Control-Request-Method": "POST"}),
        alice.get("/login", headers={"Origin": EVIL}),
    ):
        assert "access-control-allow-origin" not in response.headers


@pytest.mark.workers
def test_every_response_carries_the_security_headers(team):
    alice = team.sign_up("alice")
    for response in (alice.get("/api/conversations"), httpx.get(f"{team.url}/login"),
                     httpx.get(f"{team.url}/api/me"), alice.get("/healthz")):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "same-origin"
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    page_policy = httpx.get(f"{team.url}/login").headers["content-security-policy"]
    assert "script-src 'self'" in page_policy and "unsafe-inline" not in page_policy.split("script-src")[1].split(";")[0]
    assert "img-src 'self' data:" in page_policy


def test_the_page_csp_lists_each_inline_script_by_hash_and_nothing_else():
    html = b'<html><script>window.a = 1;</script><script type="module" src="/x.js"></script><script>b()</script>'
    expected = sorted("'sha256-" + base64.b64encode(hashlib.sha256(body).digest()).decode() + "'"
                      for body in (b"window.a = 1;", b"b()"))
    assert inline_script_hashes(html) == expected
    policy = page_csp(expected, [])
    assert f"script-src 'self' {' '.join(expected)};" in policy
    assert "'unsafe-eval'" not in policy and "'unsafe-inline'" not in policy.split("style-src")[0]


@pytest.mark.parametrize("kind, method, headers, refused", [
    ("http", "GET", {"origin": EVIL, "host": "app:3000"}, False),  # reading is CORS's business
    ("http", "POST", {"origin": EVIL, "host": "app:3000"}, True),
    ("http", "POST", {"origin": "http://app:3000", "host": "app:3000"}, False),
    ("http", "POST", {"origin": "https://app:3000", "host": "app:3000"}, False),  # TLS ended at a proxy
    ("http", "POST", {"origin": "http://app:3001", "host": "app:3000"}, True),  # another port: another origin
    ("http", "DELETE", {"origin": "null", "host": "app:3000"}, True),
    ("http", "PUT", {"sec-fetch-site": "same-site", "host": "app:3000"}, True),
    ("http", "POST", {"host": "app:3000"}, False),  # curl and scripts: no ambient cookies to abuse
    ("websocket", "", {"origin": EVIL, "host": "app:3000"}, True),
    ("websocket", "", {"origin": "http://app:3000", "host": "app:3000"}, False),
    ("websocket", "", {"origin": "https://partner.example", "host": "app:3000"}, False),
])
def test_which_requests_count_as_cross_site(kind, method, headers, refused):
    assert refuses_origin(kind, method, Headers(headers), frozenset({"https://partner.example"})) is refused


@pytest.mark.parametrize("path, public", [
    ("/login", True), ("/assets/root-abc.js", True), ("/unbroken.css", True), ("/healthz", True),
    ("/", False), ("/c/abc", False), ("/admin", False), ("/api/runs", False), ("/api/x.js", False),
    ("/_event/", False), ("/metrics", False),
])
def test_what_is_public_without_signing_in(path, public):
    assert is_public(path) is public
