"""A team instance (``UNBROKEN_AUTH=password``) in Chromium: accounts made through the forms,
one user's conversations out of another's reach through the page's Reflex events, the page's
security headers and CSP, cross-origin refusals, a provider key that never leaves the server,
the documented nginx config, login throttling and a per-user limit on the page.

Runs against ``team_app`` (tests/browser/team_app.py): its own build, fake upstream
(``team_app.upstream``) and database. The tests share two accounts made once per module; the
login-throttling test comes last, as it locks sign-ins from 127.0.0.1 for a minute.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import socket

import httpx
import pytest

from app.engine.identity import SESSION_COOKIE
from tests.browser.test_chat_page import ANSWER, ask, wait_connection, wait_state
from tests.fakes.nginx import NginxProxy
from tests.fakes.upstream import Answer

pytestmark = pytest.mark.browser

GONE_NOTICE = "This conversation does not exist (or was deleted)."
EVIL = "http://evil.example"
# Records every CSP violation the page reports; an init script is injected by the browser
# driver, not by the page, so the policy does not apply to it.
RECORD_CSP_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => window.__cspViolations.push(
    {directive: e.violatedDirective, blocked: e.blockedURI, sample: e.sample}));
"""

# In the page, with the page's own session: each [method, path] → its HTTP status.
FETCH_EACH = """async ({paths}) => {
    const statuses = {};
    for (const [method, path] of paths) {
        const init = {method, headers: {"content-type": "application/json"}};
        if (method === "POST") init.body = "{}";
        statuses[`${method} ${path}`] = (await fetch(path, init)).status;
    }
    return statuses;
}"""


@dataclasses.dataclass
class Member:
    name: str
    password: str
    storage_state: dict

    @property
    def cookies(self) -> dict[str, str]:
        return {c["name"]: c["value"] for c in self.storage_state["cookies"] if c["name"] == SESSION_COOKIE}


@dataclasses.dataclass
class Team:
    admin: Member  # A, the first account
    member: Member  # B, invited by A


@pytest.fixture
def new_context(browser):
    """``new_context(member=None)`` → a fresh browser context (signed in as ``member``) that
    records CSP violations; all are closed after the test."""
    made = []

    def make(member: Member | None = None):
        context = browser.new_context(viewport={"width": 1100, "height": 800},
                                      storage_state=member.storage_state if member else None)
        context.set_default_timeout(30_000)
        context.add_init_script(RECORD_CSP_VIOLATIONS)
        made.append(context)
        return context

    yield make
    for context in made:
        context.close()


def sign_up(context, base_url: str, name: str, password: str, signup_path: str = "/signup") -> Member:
    page = context.new_page()
    page.goto(base_url + signup_path)
    page.fill('input[name="name"]', name)
    page.fill('input[name="password"]', password)
    page.click('button[type="submit"]')
    page.wait_for_url(base_url + "/")
    page.locator('[data-testid="user-name"]').filter(has_text=name).wait_for()
    page.close()
    return Member(name, password, context.storage_state())


@pytest.fixture(scope="module")
def team(team_app, browser) -> Team:
    """A signs up first (and so is the admin), invites B, and B signs up with the invite: all
    through the /signup form."""
    contexts = [browser.new_context(), browser.new_context()]
    try:
        admin = sign_up(contexts[0], team_app.url, "alice", "alice-password-1")
        invite = httpx.post(f"{team_app.url}/api/admin/invites", cookies=admin.cookies, timeout=10)
        assert invite.status_code == 201, invite.text
        member = sign_up(contexts[1], team_app.url, "bob", "bob-password-1", invite.json()["signup_path"])
        return Team(admin, member)
    finally:
        for context in contexts:
            context.close()


def me(team_app, member: Member) -> dict:
    return httpx.get(f"{team_app.url}/api/me", cookies=member.cookies, timeout=10).json()


def conversation_id(page) -> str:
    return page.url.rsplit("/", 1)[1]


def answered(page, base_url: str, question: str, text: str):
    """Asks from a new chat; returns the answer once complete, checked to be ``text``."""
    answer = ask(page, base_url, question)
    wait_state(answer, "complete")
    assert answer.locator(".ub-answer-text").inner_text().strip() == text
    return answer


def test_the_first_account_is_the_admin_and_the_second_needs_an_invite(team_app, team, new_context):
    admin, member = me(team_app, team.admin), me(team_app, team.member)
    assert (admin["name"], admin["is_admin"], admin["auth"]) == ("alice", True, "password")
    assert (member["name"], member["is_admin"]) == ("bob", False)
    page = new_context().new_page()  # without an invite, the form refuses
    page.goto(f"{team_app.url}/signup")
    page.fill('input[name="name"]', "mallory")
    page.fill('input[name="password"]', "mallory-password")
    page.click('button[type="submit"]')
    page.wait_for_url("**/signup?error=*")
    assert page.locator(".ub-notice").is_visible()
    assert httpx.get(f"{team_app.url}/api/me", timeout=10).status_code == 401


def test_another_users_conversation_does_not_exist_for_the_pages_events(team_app, team, new_context):
    team_app.upstream.set_script(Answer(text="Otters hold hands while they sleep."), Answer(text="Bob's answer."))
    a_page = new_context(team.admin).new_page()
    answer = answered(a_page, team_app.url, "Alice's private question about otters",
                      "Otters hold hands while they sleep.")
    conversation, run_id = conversation_id(a_page), answer.get_attribute("data-run-id")
    before = httpx.get(f"{team_app.url}/api/conversations/{conversation}", cookies=team.admin.cookies, timeout=10)

    b_page = new_context(team.member).new_page()
    answered(b_page, team_app.url, "Bob's own question", "Bob's answer.")
    own = conversation_id(b_page)
    calls = len(team_app.upstream.calls)
    b_page.goto(f"{team_app.url}/c/{conversation}")
    b_page.locator(".ub-notice").filter(has_text=GONE_NOTICE).wait_for()
    b_page.locator('[data-testid="user-name"]').filter(has_text="bob").wait_for()
    shown = b_page.locator("body").inner_text()
    assert "otters" not in shown.lower() and "Otters" not in shown
    # What the page's answer component calls (stream, stop, continue, retry, details), for A's run.
    statuses = b_page.evaluate(FETCH_EACH, {"paths": [
        ["GET", f"/api/runs/{run_id}/events"], ["GET", f"/api/runs/{run_id}"], ["POST", f"/api/runs/{run_id}/stop"],
        ["POST", f"/api/runs/{run_id}/continue"], ["POST", f"/api/runs/{run_id}/retry"],
        ["GET", f"/api/runs/{run_id}/timeline"], ["GET", f"/api/runs/{run_id}/report"],
        ["GET", f"/api/conversations/{conversation}"], ["DELETE", f"/api/conversations/{conversation}"],
    ]})
    assert set(statuses.values()) == {404}, statuses
    links = b_page.locator(".ub-conversation-link").evaluate_all("links => links.map(a => a.getAttribute('href'))")
    assert f"/c/{own}" in links and f"/c/{conversation}" not in links
    # B's events on A's conversation: a message, new settings, a new title, then delete.
    b_page.fill('textarea[aria-label="Message"]', "Bob writes into Alice's chat")
    b_page.keyboard.press("Enter")
    b_page.click('button[aria-label="Conversation settings"]')
    b_page.fill('textarea[aria-label="System prompt"]', "Bob's system prompt")
    b_page.click('button[aria-label="Save settings"]')
    b_page.click('button[aria-label="Rename conversation"]')
    b_page.fill('input[aria-label="Conversation title"]', "Renamed by Bob")
    b_page.click('button[aria-label="Save title"]')
    b_page.locator(".ub-notice").filter(has_text=GONE_NOTICE).wait_for()
    b_page.click('button[aria-label="Cancel rename"]')
    b_page.click('button[aria-label="Delete conversation"]')
    b_page.click('button[aria-label="Confirm delete"]')
    b_page.wait_for_url(team_app.url + "/")  # events run in order: the ones before are done

    after = httpx.get(f"{team_app.url}/api/conversations/{conversation}", cookies=team.admin.cookies, timeout=10)
    assert after.status_code == 200 and after.json() == before.json()
    assert len(team_app.upstream.calls) == calls
    assert httpx.get(f"{team_app.url}/api/conversations/{conversation}", cookies=team.member.cookies,
                     timeout=10).status_code == 404
    a_page.reload()
    a_page.locator(ANSWER).last.wait_for()
    assert "Otters hold hands while they sleep." in a_page.locator(".ub-messages").inner_text()


def test_pages_carry_the_security_headers_and_run_without_a_csp_violation(team_app, team, new_context):
    team_app.upstream.set_script(Answer(text="Headers are on every page."))
    context = new_context(team.admin)
    console = []
    context.on("console", lambda message: console.append(message.text))
    page = context.new_page()
    documents = []
    page.on("response", lambda response: documents.append(response)
            if response.request.resource_type == "document" else None)
    answered(page, team_app.url, "Which headers does the page get?", "Headers are on every page.")
    reopened = context.new_page()  # the conversation's own URL, loaded as a page
    chat = reopened.goto(page.url)
    reopened.locator(f'{ANSWER}[data-run-state="complete"]').wait_for()
    assert [r.url for r in documents] == [team_app.url + "/"]
    for response in (documents[0], chat):
        headers = response.headers
        csp = headers["content-security-policy"]
        script_src = next(d for d in csp.split(";") if d.strip().startswith("script-src"))
        assert "'unsafe-inline'" not in script_src and "'unsafe-eval'" not in script_src, csp
        assert "frame-ancestors 'none'" in csp
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "same-origin"
    for shown in (page, reopened):
        assert shown.evaluate("window.__cspViolations") == []
    assert not [text for text in console if "Content Security Policy" in text], console


def _websocket_handshake(port: int, origin: str, cookies: dict[str, str]) -> bytes:
    """The first line and headers of the answer to a websocket upgrade of /_event."""
    key = base64.b64encode(os.urandom(16)).decode()
    cookie = "; ".join(f"{k}={v}" for k, v in cookies.items())
    request = (
        "GET /_event/?EIO=4&transport=websocket HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{port}\r\nOrigin: {origin}\r\nCookie: {cookie}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request.encode())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    return data.partition(b"\r\n\r\n")[0]


def test_another_origin_is_refused_even_with_a_valid_session_and_gets_no_cors(team_app, team, new_context):
    cookies, calls = team.admin.cookies, len(team_app.upstream.calls)
    refused = httpx.post(f"{team_app.url}/api/runs", cookies=cookies, timeout=10, headers={"Origin": EVIL},
                         json={"content": "Spend Alice's tokens", "client_request_id": "evil-1"})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "cross_origin"
    assert len(team_app.upstream.calls) == calls

    page = new_context(team.admin).new_page()
    page.goto(team_app.url + "/")
    asset = page.evaluate("performance.getEntriesByType('resource').map(e => e.name).find(n => n.endsWith('.js'))")
    assert asset, "the page loads a script of its own"
    with httpx.Client(base_url=team_app.url, cookies=cookies, headers={"Origin": EVIL}, timeout=10) as client:
        responses = [
            client.options("/api/runs", headers={"Access-Control-Request-Method": "POST",
                                                 "Access-Control-Request-Headers": "content-type"}),
            client.options("/_event/", headers={"Access-Control-Request-Method": "GET"}),
            client.get("/"),
            client.get("/login"),
            client.get("/api/conversations"),
            client.get("/api/me"),
            client.get("/_event/?EIO=4&transport=polling"),
            client.get(asset.removeprefix(team_app.url)),
        ]
    assert responses[2].status_code == 200, "the page itself is served: the session is valid"
    for response in responses:
        # (Starlette's refused preflight still says allow-credentials; without an allowed
        # origin the browser grants nothing.)
        assert "access-control-allow-origin" not in response.headers, (response.request.url, response.headers)

    assert not _websocket_handshake(team_app.port, EVIL, cookies).startswith(b"HTTP/1.1 101")
    assert _websocket_handshake(team_app.port, team_app.url, cookies).startswith(b"HTTP/1.1 101")
    assert len(team_app.upstream.calls) == calls


def test_the_provider_key_echoed_by_the_upstream_reaches_nothing_the_server_gives_out(team_app, team, new_context):
    canary = team_app.canary_key
    team_app.upstream.set_script(Answer(status=401, echo_key_in_401=True))
    page = new_context(team.admin).new_page()
    responses, frames = [], []
    page.on("response", lambda response: responses.append(response))
    def record(websocket) -> None:
        websocket.on("framereceived", lambda payload: frames.append(payload))
        websocket.on("framesent", lambda payload: frames.append(payload))

    page.on("websocket", record)
    answer = ask(page, team_app.url, "Does the key leak?")
    wait_state(answer, "failed")
    run_id = answer.get_attribute("data-run-id")
    calls = team_app.upstream.calls
    assert calls and canary in calls[-1]["headers"]["authorization"], "the upstream got the key and echoed it"
    page.locator('[data-run-state="failed"]').last.wait_for()

    seen = [page.content(), page.locator("body").inner_text()]
    for response in responses:
        seen.append(json.dumps(dict(response.headers)))
        if "text/event-stream" in response.headers.get("content-type", ""):
            continue  # read again below: a stream's body is not kept by the browser
        try:
            seen.append(response.body().decode(errors="replace"))
        except Exception:  # a redirect or a request the page abandoned has no body
            pass
    assert frames and responses, "the page's traffic was recorded"
    seen += [frame if isinstance(frame, str) else frame.decode(errors="replace") for frame in frames]
    with httpx.Client(base_url=team_app.url, cookies=team.admin.cookies, timeout=30) as client:
        events = client.get(f"/api/runs/{run_id}/events")  # the whole log: the run has ended
        # The upstream's message is shown, with the key it quoted taken out.
        assert events.status_code == 200 and "Incorrect API key provided: [redacted]" in events.text, events.text
        seen.append(events.text)
        for path in (f"/api/runs/{run_id}", f"/api/runs/{run_id}/timeline",
                     f"/api/runs/{run_id}/report", f"/api/runs/{run_id}/poll", "/api/conversations",
                     f"/api/conversations/{conversation_id(page)}", "/api/models", "/api/me"):
            response = client.get(path)
            assert response.status_code == 200, (path, response.status_code)
            seen.append(json.dumps(dict(response.headers)) + response.text)
    seen += [path.read_bytes().decode(errors="replace") for path in team_app.built_frontend()]
    assert run_id in team_app.app.log(), "the run's lifecycle lines are in the log read here"
    seen.append(team_app.app.log())
    rows = team_app.database_rows()
    assert run_id in rows, "the database's rows are read here"
    seen.append(rows)
    leaks = [text[max(0, text.find(canary) - 200):text.find(canary) + 50] for text in seen if canary in text]
    assert not leaks, leaks
    assert "sk-CANARY" not in "".join(seen)


def test_a_signed_in_user_gets_a_streamed_answer_through_the_recommended_nginx_config(team_app, team, new_context):
    text = "Through nginx, word by word, to the end."
    team_app.upstream.set_script(Answer(text=text, chunk_chars=3, delay_s=0.15))
    with NginxProxy(team_app.port, "streaming", port=team_app.nginx_port) as nginx:
        page = new_context().new_page()
        page.goto(nginx.url + "/")
        page.wait_for_url(f"{nginx.url}/login?next=*")
        page.fill('input[name="name"]', team.admin.name)
        page.fill('input[name="password"]', team.admin.password)
        page.click('button[type="submit"]')
        page.wait_for_url(nginx.url + "/")
        answer = ask(page, nginx.url, "Does a team instance work behind nginx?")
        wait_state(answer, "streaming")
        wait_connection(answer, "live")
        wait_state(answer, "complete")
        assert answer.locator(".ub-answer-text").inner_text().strip() == text
        run_id = answer.get_attribute("data-run-id")
        assert f"GET /api/runs/{run_id}/events" in nginx.access_log()
        assert page.evaluate("window.__cspViolations") == []


def test_a_second_answer_beyond_the_concurrent_limit_is_refused_on_the_page(team_app, team, new_context):
    team_app.upstream.set_script(Answer(text="A slow answer " * 40, chunk_chars=4, delay_s=0.1))
    page = new_context(team.admin).new_page()
    calls = len(team_app.upstream.calls)
    answer = ask(page, team_app.url, "Write slowly, please.")
    wait_state(answer, "streaming")
    page.fill('textarea[aria-label="Message"]', "And another one at the same time")
    page.keyboard.press("Enter")
    page.locator(".ub-notice").filter(has_text="answers are already being written for you").wait_for()
    assert page.locator('[data-testid="user-message"]').count() == 1
    assert len(team_app.upstream.calls) == calls + 1
    run_id = answer.get_attribute("data-run-id")
    stopped = httpx.post(f"{team_app.url}/api/runs/{run_id}/stop", cookies=team.admin.cookies, timeout=10)
    assert stopped.status_code == 200, stopped.text
    wait_state(answer, "stopped")


def test_repeated_wrong_passwords_make_the_sign_in_form_ask_to_wait(team_app, team, new_context):
    page = new_context().new_page()
    page.goto(f"{team_app.url}/login")
    for attempt in range(5):
        page.fill('input[name="name"]', team.member.name)
        page.fill('input[name="password"]', f"wrong-password-{attempt}")
        page.click('button[type="submit"]')
        page.wait_for_url("**/login?error=bad_credentials*")
    page.fill('input[name="name"]', team.member.name)
    page.fill('input[name="password"]', team.member.password)
    page.click('button[type="submit"]')
    page.wait_for_url("**/login?error=throttled*")
    assert "Too many failed sign-ins" in page.locator(".ub-notice").inner_text()
    assert SESSION_COOKIE not in {c["name"] for c in page.context.cookies()}
    page.goto(team_app.url + "/")
    page.wait_for_url("**/login?next=*")
