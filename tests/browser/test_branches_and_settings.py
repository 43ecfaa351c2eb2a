"""Edit and resend, versions, conversation settings, keyboard and first-run help in the page."""

from __future__ import annotations

import httpx
import pytest

from tests.browser.conftest import FAKE_MODEL
from tests.browser.test_chat_page import ANSWER, ask, wait_state
from tests.fakes.upstream import Answer

pytestmark = [pytest.mark.browser, pytest.mark.workers]

FAKE = f"openai:{FAKE_MODEL}"


def conversation(base_url: str, page) -> dict:
    return httpx.get(f"{base_url}/api/conversations/{page.url.rsplit('/', 1)[1]}", timeout=10).json()


def wait_answer_text(page, text: str) -> None:
    """Wait until the (one) answer on screen is complete with exactly ``text``."""
    page.wait_for_function(
        """([selector, text]) => [...document.querySelectorAll(selector)].some(
            a => a.dataset.runState === "complete" && a.querySelector(".ub-answer-text").innerText.trim() === text)""",
        arg=[ANSWER, text],
    )


def test_edit_and_resend_starts_a_branch_and_the_old_one_stays_reachable(app_server, fake_upstream, context):
    fake_upstream.set_script(Answer(text="Answer one."), Answer(text="Answer two."), Answer(text="Answer three."))
    page = context.new_page()
    ask(page, app_server.url, "First version", model=FAKE)
    wait_answer_text(page, "Answer one.")
    calls_before = len(fake_upstream.calls)

    page.click('button[aria-label="Edit question"]')
    page.fill('textarea[aria-label="Edit question"]', "Second version")
    page.keyboard.press("Enter")
    wait_answer_text(page, "Answer two.")
    assert page.locator('[data-testid="user-message"]').all_inner_texts() == ["Second version"]
    assert page.locator(".ub-version").all_inner_texts() == ["2 / 2"]  # the question's versions
    sent = fake_upstream.calls[calls_before]["body"]["messages"]
    assert [m["content"] for m in sent] == ["Second version"]  # the old branch is not in the context

    page.click('button[aria-label="Previous version"]')
    page.wait_for_selector('[data-testid="user-message"]:text-is("First version")')
    wait_answer_text(page, "Answer one.")
    assert page.locator(".ub-version").all_inner_texts() == ["1 / 2"]
    page.reload()  # the branch on screen is remembered
    page.wait_for_selector('[data-testid="user-message"]:text-is("First version")')

    page.locator(ANSWER).last.locator('button[aria-label="Retry"]').click()  # "Regenerate"
    wait_answer_text(page, "Answer three.")
    assert page.locator(".ub-version").all_inner_texts() == ["1 / 2", "2 / 2"]  # question 1 of 2, answer 2 of 2
    assert len(page.locator(ANSWER).all()) == 1
    page.click('button[aria-label="Previous version"] >> nth=1')
    wait_answer_text(page, "Answer one.")
    shown = conversation(app_server.url, page)["messages"]
    assert [(m["content"], m["version"], m["versions"]) for m in shown] == [
        ("First version", 1, 2), ("Answer one.", 1, 2)
    ]


def test_conversation_settings_reach_the_upstream_and_bad_values_change_nothing(app_server, fake_upstream, context):
    fake_upstream.set_script(Answer(text="Arr."))
    page = context.new_page()
    page.goto(app_server.url)
    page.select_option('select[aria-label="Model"]', FAKE)
    page.click('button[aria-label="Conversation settings"]')
    page.fill('textarea[aria-label="System prompt"]', "Talk like a pirate.")
    page.fill('input[aria-label="Max tokens"]', "64")
    page.fill('input[aria-label="Temperature"]', "0.3")
    page.click('button[aria-label="Save settings"]')
    page.wait_for_selector('textarea[aria-label="System prompt"]', state="detached")
    calls_before = len(fake_upstream.calls)
    page.fill('textarea[aria-label="Message"]', "Hello there")
    page.keyboard.press("Enter")
    page.wait_for_url("**/c/*")
    wait_answer_text(page, "Arr.")
    body = fake_upstream.calls[calls_before]["body"]
    assert body["messages"][0] == {"role": "system", "content": "Talk like a pirate."}
    assert (body["model"], body["max_tokens"], body["temperature"]) == (FAKE_MODEL, 64, 0.3)
    saved = {"model": FAKE, "system_prompt": "Talk like a pirate.", "max_tokens": 64, "temperature": 0.3}
    assert conversation(app_server.url, page)["settings"] == saved

    page.reload()
    page.click('button[aria-label="Conversation settings"]')
    assert page.input_value('textarea[aria-label="System prompt"]') == "Talk like a pirate."
    assert page.input_value('input[aria-label="Temperature"]') == "0.3"
    assert page.input_value('select[aria-label="Model"]') == FAKE  # remembered by the conversation
    page.fill('input[aria-label="Temperature"]', "7")
    page.click('button[aria-label="Save settings"]')  # the browser refuses it at once (max=2)
    assert page.eval_on_selector('input[aria-label="Temperature"]', "e => e.validity.rangeOverflow")
    page.fill('input[aria-label="Max tokens"]', "99999999")  # within the field's rules, above the server's cap
    page.fill('input[aria-label="Temperature"]', "0.5")
    page.click('button[aria-label="Save settings"]')
    page.wait_for_selector('[role="alert"]:has-text("max_tokens must be a whole number from 1 to")')
    assert page.input_value('input[aria-label="Temperature"]') == "0.5"  # the form keeps what was typed
    assert conversation(app_server.url, page)["settings"] == saved

    page.select_option('select[aria-label="Model"]', "demo:demo")
    page.wait_for_function(
        "url => fetch(url).then(r => r.json()).then(c => c.settings.model === 'demo:demo')",
        arg=f"{app_server.url}/api/conversations/{page.url.rsplit('/', 1)[1]}",
    )


def test_keyboard_esc_stops_and_the_new_chat_shortcut_focuses_the_composer(app_server, context):
    page = context.new_page()
    page.goto(app_server.url)
    assert page.locator('[data-testid="first-run-help"]').is_visible()
    answer = ask(page, app_server.url, "A long demo answer to stop")
    assert page.locator('[data-testid="first-run-help"]').count() == 0
    wait_state(answer, "streaming")
    page.keyboard.press("Escape")
    wait_state(answer, "stopped")
    page.keyboard.press("Control+Shift+O")
    page.wait_for_url(app_server.url + "/")
    page.wait_for_selector('[data-testid="first-run-help"]')
    page.wait_for_function("() => document.activeElement?.getAttribute('aria-label') === 'Message'")


def test_code_blocks_are_highlighted_and_copy_stays_plain(app_server, context):
    page = context.new_page()
    answer = ask(page, app_server.url, "Show me some code")
    wait_state(answer, "complete")
    code = answer.locator("pre code")
    assert "hljs" in code.get_attribute("class")
    assert code.locator("span.hljs-string").first.inner_text() == "'answers survive every drop'"
    assert code.locator("span.hljs-comment").count() == 1
