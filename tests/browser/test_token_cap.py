"""The token count on a message, and a cap reached mid-stream: truncated with its count shown,
and Continue goes on from there."""

from __future__ import annotations

import pytest

from tests.browser.test_branches_and_settings import FAKE
from tests.browser.test_chat_page import ANSWER, wait_state
from tests.fakes.upstream import Answer

pytestmark = [pytest.mark.browser, pytest.mark.workers]

STORY = "".join(f"Chapter {i} of a story that goes on. " for i in range(40))  # about 360 tokens
CAP = 20


def test_a_capped_answer_ends_truncated_with_its_count_and_continue_goes_on(app_server, fake_upstream, context):
    # The fake ignores max_tokens, as some servers do; the cap still holds.
    fake_upstream.set_script(Answer(text=STORY, chunk_chars=8, delay_s=0.01), Answer(text=STORY[CAP * 4:], chunk_chars=8))
    page = context.new_page()
    page.goto(app_server.url)
    page.select_option('select[aria-label="Model"]', FAKE)
    page.click('button[aria-label="Conversation settings"]')
    page.fill('input[aria-label="Max tokens"]', str(CAP))
    page.click('button[aria-label="Save settings"]')
    page.wait_for_selector('input[aria-label="Max tokens"]', state="detached")
    page.fill('textarea[aria-label="Message"]', "Tell me the story")
    page.keyboard.press("Enter")
    answer = page.locator(ANSWER).last
    answer.wait_for()
    wait_state(answer, "truncated")
    assert answer.locator('[data-testid="token-count"]').inner_text() == f"{CAP} tokens"
    assert f"Reached the limit of {CAP} tokens" in answer.inner_text()
    assert answer.locator(".ub-answer-text").inner_text().strip() == STORY[: CAP * 4].strip()

    answer.locator('[aria-label="Continue"]').click()
    wait_state(answer, "truncated")  # another cap's worth, from exactly where it stopped
    page.wait_for_function(
        "([el, n]) => el.querySelector('[data-testid=\"token-count\"]').innerText === `${n} tokens`",
        arg=[answer.element_handle(), 2 * CAP],
    )
    assert answer.locator(".ub-answer-text").inner_text().strip() == STORY[: 2 * CAP * 4].strip()
