"""The answer survives tabs, double clicks and a killed server — and the page says what is
happening (issue: the answer survives the browser, the network and a server restart)."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.browser.test_chat_page import ANSWER, END_OF_DEMO, ask, rendered_from_database, run_of, wait_state
from tests.browser.test_upstream_states import ask_fake
from tests.fakes.tcp_proxy import TCPProxy
from tests.fakes.upstream import Answer
from tests.sse_client import read_events

pytestmark = [pytest.mark.browser, pytest.mark.workers]


def text_of(answer) -> str:
    return answer.locator(".ub-answer-text").inner_text()


def stop_in_the_second_of_two_tabs(context, url: str, question: str):
    """Ask in one tab, open the conversation in a second while it streams, press Stop there:
    both tabs show it stopped, with the same text as the database. Returns both answers."""
    first = context.new_page()
    answer_one = ask(first, url, question)
    wait_state(answer_one, "streaming")
    second = context.new_page()
    second.goto(first.url)
    answer_two = second.locator(ANSWER).last
    wait_state(answer_two, "streaming")
    answer_two.locator('button[aria-label="Stop"]').click()
    wait_state(answer_two, "stopped")
    wait_state(answer_one, "stopped")
    assert text_of(answer_one) == text_of(answer_two) == rendered_from_database(context, first.url)
    return answer_one, answer_two


def test_two_tabs_show_the_same_answer_and_stop_in_one_stops_both(app_server, context):
    stop_in_the_second_of_two_tabs(context, app_server.url, "Two tabs, one answer?")


def test_a_double_click_on_send_starts_one_answer(app_server, context):
    page = context.new_page()
    page.goto(app_server.url)
    page.fill('textarea[aria-label="Message"]', "Only once, please")
    page.dblclick('button[aria-label="Send"]')
    page.wait_for_url("**/c/*")
    wait_state(page.locator(ANSWER).last, "complete")
    fresh = context.new_page()
    fresh.goto(page.url)
    fresh.locator(ANSWER).last.wait_for()
    assert fresh.locator(ANSWER).count() == 1
    assert fresh.locator('[data-testid="user-message"]').count() == 1


def test_a_reload_shows_the_text_so_far_at_once(app_server, context):
    page = context.new_page()
    answer = ask(page, app_server.url, "Reload me in the middle")
    wait_state(answer, "streaming")
    page.wait_for_function("el => el.innerText.length > 150", arg=answer.element_handle())
    shown = len(text_of(answer))
    page.reload()
    answer = page.locator(ANSWER).last
    page.wait_for_function("([el, n]) => el.querySelector('.ub-answer-text').innerText.length >= n",
                           arg=[answer.element_handle(), shown], timeout=3000)
    wait_state(answer, "complete")
    assert text_of(answer).count(END_OF_DEMO) == 1


def test_a_failed_answer_says_why(app_server, fake_upstream, context, screenshot):
    fake_upstream.set_script(Answer(status=401, echo_key_in_401=True))
    page = context.new_page()
    answer = ask_fake(page, app_server.url, "Is my key right?")
    wait_state(answer, "failed")
    assert "The API key was rejected by openai (HTTP 401)" in answer.inner_text()
    assert "sk-browser-test-key" not in page.content()
    screenshot(page, "failed")


@pytest.mark.parametrize("auto_continue", ["on", "off"])
def test_after_kill_9_the_answer_is_interrupted_then_continues(app_server, context, screenshot, auto_continue):
    page = context.new_page()
    answer = ask(page, app_server.url, f"Survive a kill -9 (auto-continue {auto_continue})")
    wait_state(answer, "streaming")
    page.wait_for_function("el => el.innerText.length > 120", arg=answer.element_handle())
    app_server.kill()
    shown = text_of(answer)
    page.wait_for_selector(f'{ANSWER}[data-conn-state="reconnecting"]')
    try:
        app_server.start(UNBROKEN_AUTO_CONTINUE=auto_continue)
        if auto_continue == "off":
            wait_state(answer, "interrupted")
            assert "server restarted before this answer finished" in answer.inner_text()
            assert len(rendered_from_database(context, page.url)) >= len(shown)
            screenshot(page, "interrupted")
            page.reload()  # the ended answer now comes from the database snapshot
            answer = page.locator(ANSWER).last
            wait_state(answer, "interrupted")
            answer.locator('button[aria-label="Continue"]').click()
        wait_state(answer, "complete", timeout_ms=60_000)
        final = text_of(answer)
        assert final.count(END_OF_DEMO) == 1 and final.count("Demo answer") == 1
        assert rendered_from_database(context, page.url) == final
        run = run_of(app_server.url, answer)
        assert "server_restart" in [a.get("outcome") for a in run["attempts"]]
        states = [data["state"] for _, kind, data in read_events(app_server.url, run["run_id"]).events
                  if kind != "delta"]
        assert states[states.index("interrupted") + 1] == "continuing"  # shown, then continued
    finally:
        if auto_continue == "off":
            app_server.stop()
            app_server.start()


def test_ten_cuts_and_a_twenty_second_outage_end_with_the_exact_text_from_one_upstream_call(
    app_server, fake_upstream, context
):
    long_text = "".join(f"Paragraph {i}: the network keeps failing, the answer keeps going.\n\n" for i in range(60))
    fake_upstream.set_script(Answer(text=long_text, chunk_chars=8, delay_s=0.07))  # about 36 s of streaming
    calls_before = len(fake_upstream.calls)
    with TCPProxy(app_server.port, port=app_server.proxy_port) as proxy:
        page = context.new_page()
        answer = ask_fake(page, proxy.url, "Keep going through every cut")
        wait_state(answer, "streaming")
        live = f'{ANSWER}[data-conn-state="live"]'
        for _ in range(10):
            page.wait_for_selector(live)
            proxy.cut()
            page.wait_for_selector(f'{ANSWER}[data-conn-state="reconnecting"]')
        page.wait_for_selector(live)
        proxy.down()
        page.wait_for_selector(f'{ANSWER}[data-conn-state="reconnecting"]')
        time.sleep(20)  # the outage itself is what is tested: the proxy refuses every connection for 20 s
        assert run_of(app_server.url, answer)["state"] == "streaming"  # the run does not notice
        proxy.up()
        wait_state(answer, "complete", timeout_ms=90_000)
        direct_url = page.url.replace(proxy.url, app_server.url)
    final = text_of(answer)
    assert final.count("Paragraph 59:") == 1 and final.count("Paragraph 0:") == 1
    assert rendered_from_database(context, direct_url) == final
    assert len(fake_upstream.calls) - calls_before == 1


def test_a_background_tab_frozen_for_60_s_shows_the_full_answer_when_it_comes_back(app_server, context):
    page = context.new_page()
    answer = ask(page, app_server.url, "Will a background tab keep up?")
    wait_state(answer, "streaming")
    lifecycle = context.new_cdp_session(page)
    lifecycle.send("Page.setWebLifecycleState", {"state": "frozen"})  # what Chrome does to background tabs
    run_id = answer.get_attribute("data-run-id")
    time.sleep(60)  # the hidden minute is what is tested; the answer finishes meanwhile
    assert httpx.get(f"{app_server.url}/api/runs/{run_id}").json()["state"] == "complete"
    lifecycle.send("Page.setWebLifecycleState", {"state": "active"})
    wait_state(answer, "complete", timeout_ms=10_000)
    assert text_of(answer).count(END_OF_DEMO) == 1
    assert rendered_from_database(context, page.url) == text_of(answer)
