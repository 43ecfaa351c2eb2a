"""Managing conversations in the page: create, rename, search, delete."""

from __future__ import annotations

import httpx
import pytest

from tests.browser.clipboard import wait_for_clipboard
from tests.browser.test_chat_page import ask, wait_state

pytestmark = [pytest.mark.browser, pytest.mark.workers]


def sidebar_titles(page) -> list[str]:
    return page.locator(".ub-conversation-link").all_inner_texts()


def test_create_rename_search_and_delete_a_conversation(app_server, context):
    page = context.new_page()
    answer = ask(page, app_server.url, "Notes about zebras")
    wait_state(answer, "complete")
    conversation_url = page.url
    assert "Notes about zebras" in sidebar_titles(page)

    page.click('button[aria-label="Rename conversation"]')
    page.fill('input[aria-label="Conversation title"]', "Striped animals")
    page.click('button[aria-label="Save title"]')
    page.wait_for_selector('h1.ub-title:has-text("Striped animals")')
    assert "Striped animals" in sidebar_titles(page)

    page.fill('input[aria-label="Search conversations"]', "STRIPED")
    page.keyboard.press("Enter")
    page.wait_for_function("() => [...document.querySelectorAll('.ub-conversation-link')].length === 1")
    assert sidebar_titles(page) == ["Striped animals"]
    page.fill('input[aria-label="Search conversations"]', "demo fingerprint")  # text of the answer
    page.keyboard.press("Enter")
    page.wait_for_function(
        "() => [...document.querySelectorAll('.ub-conversation-link')].some(a => a.innerText === 'Striped animals')"
    )

    page.click('button[aria-label="Delete conversation"]')
    page.click('button[aria-label="Cancel delete"]')  # a change of mind deletes nothing
    page.click('button[aria-label="Delete conversation"]')
    page.click('button[aria-label="Confirm delete"]')
    page.wait_for_url(app_server.url + "/")
    found = httpx.get(f"{app_server.url}/api/conversations", params={"q": "Striped"}).json()["conversations"]
    assert found == []
    page.goto(conversation_url)
    page.wait_for_selector('[role="alert"]:has-text("does not exist")')


def test_copy_a_code_block_and_a_whole_answer(app_server, browser):
    context = browser.new_context(permissions=["clipboard-read", "clipboard-write"])
    try:
        page = context.new_page()
        answer = ask(page, app_server.url, "Copy things")
        wait_state(answer, "complete")
        answer.locator('button[aria-label="Copy code"]').click()
        code = wait_for_clipboard(page, lambda text: "print(" in text)
        assert code.startswith("# demo fingerprint of your question:")
        assert "```" not in code and code.rstrip().endswith("print('answers survive every drop')")
        answer.locator('button[aria-label="Copy"]').click()
        copied = wait_for_clipboard(page, lambda text: text.startswith("**Demo answer**"))
        run = httpx.get(f"{app_server.url}/api/runs/{answer.get_attribute('data-run-id')}").json()
        assert copied == run["text"]  # the markdown, exactly
    finally:
        context.close()
