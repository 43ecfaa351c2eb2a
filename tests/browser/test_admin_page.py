"""/admin and /account in headless Chromium, against one process and three workers. The
session's apps run without authentication, where the one (local) user is an admin. A key
typed on the admin page must reach the server and never come back: not in the page, not in
any websocket frame the browser receives."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser.held_websocket import HeldWebsocket

pytestmark = [pytest.mark.browser, pytest.mark.workers]

SECRET = "sk-typed-on-the-admin-page-4f9a1c"


@pytest.fixture
def restore(app_server):
    """The session's app is shared: put the local user's limits and the OpenAI key back."""
    yield
    httpx.patch(f"{app_server.url}/api/admin/users/local", json={"concurrent_runs": None}, timeout=10)
    httpx.put(f"{app_server.url}/api/admin/providers/openai", json={"api_key": None}, timeout=10)


def received_frames(page) -> list[str]:
    """Every websocket frame the page receives from now on (Reflex's state updates)."""
    frames: list[str] = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: frames.append(
        payload if isinstance(payload, str) else payload.decode(errors="replace"))))
    return frames


def test_the_admin_invites_sets_limits_and_enters_a_key_that_never_comes_back(app_server, context, restore,
                                                                              screenshot):
    page = context.new_page()
    frames = received_frames(page)
    websocket = HeldWebsocket(page)
    page.goto(f"{app_server.url}/admin")
    websocket.wait_held()
    expect(page.get_by_role("button", name="Create invite")).to_be_disabled()  # until the page has loaded
    websocket.release()
    local = page.locator('[data-testid="admin-user"][data-user="local"]')
    expect(local).to_contain_text("you")

    page.get_by_role("button", name="Create invite").click()
    invite = page.get_by_test_id("invite-link")
    expect(invite).to_contain_text("/signup?invite=")
    assert invite.evaluate("a => a.href").startswith(f"{app_server.url}/signup?invite=")

    local.get_by_label("Answers at once").fill("3")
    local.get_by_role("button", name="Save limits of local").click()
    expect(page.get_by_role("status")).to_have_text("Limits saved.")
    users = httpx.get(f"{app_server.url}/api/admin/users", timeout=10).json()["users"]
    assert next(u for u in users if u["name"] == "local")["concurrent_runs"] == 3

    openai = page.locator('[data-testid="admin-provider"][data-provider="openai"]')
    expect(openai.get_by_test_id("key-status")).to_have_text("key set in configuration")
    openai.get_by_label("openai API key").fill(SECRET)
    openai.get_by_role("button", name="Save openai").click()
    expect(page.get_by_role("status")).to_have_text("openai saved.")
    expect(openai.get_by_test_id("key-status")).to_have_text("key set here")
    expect(openai.get_by_label("openai API key")).to_have_value("")  # the form was made anew
    provider = next(p for p in httpx.get(f"{app_server.url}/api/admin/providers", timeout=10).json()["providers"]
                    if p["provider"] == "openai")
    assert provider["admin_set"] == ["api_key"]
    screenshot(page, "admin-page")

    page.reload()
    expect(openai.get_by_test_id("key-status")).to_have_text("key set here")
    assert SECRET not in page.content()
    assert frames and not [frame for frame in frames if SECRET in frame]

    openai.get_by_role("button", name="Remove openai key").click()
    expect(openai.get_by_test_id("key-status")).to_have_text("key set in configuration")


def test_the_account_page_makes_a_token_shows_it_once_and_revokes_it(app_server, context):
    page = context.new_page()
    websocket = HeldWebsocket(page)
    page.goto(f"{app_server.url}/account")
    websocket.wait_held()
    # Until the page has loaded, nothing can be made: a token made earlier was shown, and the
    # load then hid it for good (a token is shown only once).
    expect(page.get_by_label("Token name")).to_be_disabled()
    expect(page.get_by_role("button", name="Create token")).to_be_disabled()
    websocket.release()
    page.get_by_label("Token name").fill("laptop script")
    page.get_by_role("button", name="Create token").click()
    token = page.get_by_test_id("new-token")
    expect(token).to_contain_text("ubk_")
    expect(page.get_by_test_id("api-token")).to_contain_text("laptop script")
    expect(page.get_by_test_id("api-token")).to_contain_text("last used never")

    page.reload()
    expect(page.get_by_test_id("api-token")).to_have_count(1)
    expect(page.get_by_test_id("new-token")).to_have_count(0)  # shown once

    page.get_by_role("button", name="Revoke laptop script").click()
    expect(page.get_by_test_id("api-token")).to_have_count(0)
    page.get_by_role("link", name="Back to chats").click()
    page.wait_for_url(f"{app_server.url}/")
