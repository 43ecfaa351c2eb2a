"""What the page shows while the upstream misbehaves: retrying with a countdown, continuing."""

from __future__ import annotations

import pytest

from tests.browser.conftest import FAKE_MODEL
from tests.browser.test_chat_page import ANSWER, ask, rendered_from_database, wait_state
from tests.fakes.upstream import Answer

pytestmark = [pytest.mark.browser, pytest.mark.workers]

FULL = "".join(f"Line {i} of an answer that will be cut and continued. " for i in range(30))


def ask_fake(page, base_url: str, question: str):
    return ask(page, base_url, question, model=f"openai:{FAKE_MODEL}")


def test_a_rate_limited_answer_counts_down_then_arrives(app_server, fake_upstream, context, screenshot):
    fake_upstream.set_script(
        Answer(status=429, headers={"Retry-After": "3"}),
        Answer(text="After the wait, here is the answer.", delay_s=0.02),
    )
    calls_before = len(fake_upstream.calls)
    page = context.new_page()
    answer = ask_fake(page, app_server.url, "Are you rate limited?")
    wait_state(answer, "retrying")
    page.wait_for_function("el => /Retrying in [123] s \\(attempt 2 of \\d+\\)/.test(el.innerText)",
                           arg=answer.element_handle())
    assert "rate-limiting" in answer.inner_text()
    screenshot(page, "retrying")
    wait_state(answer, "complete")
    assert "After the wait, here is the answer." in answer.inner_text()
    calls = fake_upstream.calls[calls_before:]
    assert len(calls) == 2 and calls[0]["body"]["model"] == FAKE_MODEL  # the picker chose the fake


def test_a_drop_mid_answer_shows_continuing_and_ends_with_the_whole_text(app_server, fake_upstream, context):
    cut = 40 * 10
    fake_upstream.set_script(
        Answer(text=FULL, chunk_chars=10, delay_s=0.01, drop_after_chunks=40),
        Answer(text=FULL[cut - 12 :], chunk_chars=10, delay_s=0.05),
    )
    page = context.new_page()
    answer = ask_fake(page, app_server.url, "Will you survive a drop?")
    page.wait_for_selector(f'{ANSWER}[data-run-state="continuing"]')
    wait_state(answer, "complete")
    final = answer.locator(".ub-answer-text").inner_text()
    assert final.count("Line 29 of an answer") == 1 and final.count("Line 0 of an answer") == 1
    assert rendered_from_database(context, page.url) == final


def test_retry_now_skips_a_long_wait(app_server, fake_upstream, context):
    fake_upstream.set_script(Answer(status=429, headers={"Retry-After": "60"}), Answer(text="No need to wait."))
    page = context.new_page()
    answer = ask_fake(page, app_server.url, "Do I have to wait a minute?")
    wait_state(answer, "retrying")
    answer.locator('button[aria-label="Retry now"]').click()
    wait_state(answer, "complete", timeout_ms=15_000)  # well before the 60 s the provider asked for
    assert "No need to wait." in answer.inner_text()


def test_retry_after_a_failure_adds_a_new_answer_to_the_same_question(app_server, fake_upstream, context):
    fake_upstream.set_script(Answer(status=500), Answer(text="The second answer."))
    page = context.new_page()
    answer = ask_fake(page, app_server.url, "Fail once, then answer")
    page.wait_for_selector(f'{ANSWER}[data-run-state="retrying"], {ANSWER}[data-run-state="complete"]')
    wait_state(answer, "complete")  # a 500 is retried by the server on its own
    first_run = answer.get_attribute("data-run-id")
    fake_upstream.set_script(Answer(text="A regenerated answer."))
    answer.locator('button[aria-label="Retry"]').click()
    new_answer = page.locator(f'{ANSWER}:not([data-run-id="{first_run}"])')
    new_answer.wait_for()
    wait_state(new_answer, "complete")
    assert "A regenerated answer." in new_answer.inner_text()
    assert page.locator('[data-testid="user-message"]').count() == 1
