"""The chat page in headless Chromium against the real app (demo provider, 25 tokens/s)."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from playwright.sync_api import expect

from tests.browser.held_websocket import HeldWebsocket
from tests.fakes.tcp_proxy import TCPProxy

pytestmark = [pytest.mark.browser, pytest.mark.workers]

ANSWER = '[data-testid="assistant-message"]'
END_OF_DEMO = "That is the end of the demo answer."


def ask(page, base_url: str, question: str, model: str | None = None):
    """Send a question from a new chat (with the model picker set when ``model`` is given)."""
    page.goto(base_url)
    if model is not None:
        page.select_option('select[aria-label="Model"]', model)
    page.fill('textarea[aria-label="Message"]', question)
    page.keyboard.press("Enter")
    page.wait_for_url("**/c/*")
    answer = page.locator(ANSWER).last
    answer.wait_for()
    return answer


def wait_state(answer, state: str, timeout_ms: int = 30_000) -> None:
    """Wait by selector, not by element: the page may re-render the message (after a restart)."""
    _wait_attribute(answer, "data-run-state", state, timeout_ms)


def wait_connection(answer, state: str, timeout_ms: int = 30_000) -> None:
    """Wait for the answer's connection state (the run's state can come first: the page may
    learn it from its own snapshot of the database before its event stream opens)."""
    _wait_attribute(answer, "data-conn-state", state, timeout_ms)


def _wait_attribute(answer, name: str, value: str, timeout_ms: int) -> None:
    run_id = answer.get_attribute("data-run-id")
    try:
        answer.page.wait_for_selector(f'{ANSWER}[data-run-id="{run_id}"][{name}="{value}"]', timeout=timeout_ms)
    except PlaywrightTimeoutError:
        raise AssertionError(f"answer {run_id} never had {name}={value}\n{_what_happened(answer.page, run_id)}") from None


def _what_happened(page, run_id: str) -> str:
    """For a failed wait: the answer as the page shows it, and the run's timeline on the server
    (its events and the page's connection log; asked through the page's origin, so best effort
    when a test's proxy is down)."""
    try:
        shown = page.evaluate(
            """id => [...document.querySelectorAll('[data-testid="assistant-message"]')]
                 .filter(el => el.dataset.runId === id)
                 .map(el => ({state: el.dataset.runState, conn: el.dataset.connState, text: el.innerText.slice(-300)}))""",
            run_id,
        )
    except PlaywrightError as exc:
        shown = f"(the page could not be read: {exc.message})"
    origin = urlsplit(page.url)
    try:
        timeline = httpx.get(f"{origin.scheme}://{origin.netloc}/api/runs/{run_id}/timeline", timeout=5).text[-4000:]
    except httpx.HTTPError as exc:
        timeline = f"(timeline not reachable: {exc!r})"
    return f"the page shows: {shown}\nthe server's timeline: {timeline}"


def rendered_from_database(context, url: str) -> str:
    """The answer as a fresh page shows it from the database snapshot (no streaming)."""
    page = context.new_page()
    page.goto(url)
    answer = page.locator(ANSWER).last
    answer.wait_for()
    text = answer.locator(".ub-answer-text").inner_text()
    page.close()
    return text


def run_of(base_url: str, answer) -> dict:
    return httpx.get(f"{base_url}/api/runs/{answer.get_attribute('data-run-id')}", timeout=10).json()


def test_the_run_command_prints_the_url(one_app):
    port = one_app.url.rsplit(":", 1)[1]
    assert f"http://localhost:{port}" in one_app.log()
    assert "App running at" in one_app.log()


def test_a_question_gets_a_streamed_answer(app_server, context, screenshot):
    page = context.new_page()
    answer = ask(page, app_server.url, "How do streamed answers work?")
    wait_state(answer, "streaming")
    wait_connection(answer, "live")
    streaming_text = answer.locator(".ub-answer-text").inner_text()
    screenshot(page, "streaming")
    wait_state(answer, "complete")
    final = answer.locator(".ub-answer-text").inner_text()
    assert len(streaming_text) < len(final), "the text should arrive progressively"
    assert END_OF_DEMO in final and "Demo answer" in final
    assert page.locator(".ub-banner").inner_text().startswith("Demo mode")
    assert answer.get_attribute("data-conn-state") == "closed"
    assert run_of(app_server.url, answer)["state"] == "complete"
    assert rendered_from_database(context, page.url) == final
    screenshot(page, "complete")


def test_a_cut_connection_shows_reconnecting_then_the_exact_answer(app_server, context, screenshot):
    with TCPProxy(app_server.port, port=app_server.proxy_port) as proxy:
        page = context.new_page()
        answer = ask(page, proxy.url, "What happens when the network blinks?")
        wait_state(answer, "streaming")
        page.wait_for_function("el => el.innerText.length > 80", arg=answer.element_handle())
        proxy.down()  # cut every connection and refuse new ones for a moment
        page.wait_for_selector(f'{ANSWER}[data-conn-state="reconnecting"]')
        assert run_of(app_server.url, answer)["state"] == "streaming"  # the run does not care
        screenshot(page, "reconnecting")
        proxy.up()
        page.wait_for_selector(f'{ANSWER}[data-conn-state="live"], {ANSWER}[data-conn-state="closed"]')
        wait_state(answer, "complete")
        final = answer.locator(".ub-answer-text").inner_text()
        assert final.count(END_OF_DEMO) == 1
        assert rendered_from_database(context, page.url) == final  # nothing twice, nothing missing


def test_after_a_502_the_page_opens_a_new_stream_and_resumes(app_server, context):
    with TCPProxy(app_server.port, port=app_server.proxy_port) as proxy:
        page = context.new_page()
        answer = ask(page, proxy.url, "What if the proxy answers 502?")
        wait_state(answer, "streaming")
        proxy.bad_gateway()  # the browser's EventSource gives up (CLOSED): ours must reopen
        page.wait_for_selector(f'{ANSWER}[data-conn-state="reconnecting"]')
        page.wait_for_function("el => /next try in/.test(el.innerText)", arg=answer.element_handle())
        proxy.up()
        wait_state(answer, "complete")
        final = answer.locator(".ub-answer-text").inner_text()
        assert final.count(END_OF_DEMO) == 1
        assert rendered_from_database(context, page.url) == final


def test_closing_the_page_does_not_stop_the_run(app_server, context):
    page = context.new_page()
    answer = ask(page, app_server.url, "Will you finish without me?")
    wait_state(answer, "streaming")
    run_id, url = answer.get_attribute("data-run-id"), page.url
    page.close()
    deadline = time.monotonic() + 30
    while httpx.get(f"{app_server.url}/api/runs/{run_id}").json()["state"] != "complete":
        assert time.monotonic() < deadline, "the run did not finish on its own"
        time.sleep(0.2)
    later = context.new_page()
    later.goto(url)
    answer = later.locator(f'{ANSWER}[data-run-id="{run_id}"]')
    wait_state(answer, "complete")
    assert END_OF_DEMO in answer.inner_text()


def test_a_reload_mid_answer_resumes_from_the_server(app_server, context):
    page = context.new_page()
    answer = ask(page, app_server.url, "Can I reload?")
    wait_state(answer, "streaming")
    page.reload()
    answer = page.locator(ANSWER).last
    wait_state(answer, "complete")
    final = answer.locator(".ub-answer-text").inner_text()
    assert final.count(END_OF_DEMO) == 1
    assert rendered_from_database(context, page.url) == final


def test_stop_keeps_the_partial_answer(app_server, context, screenshot):
    page = context.new_page()
    answer = ask(page, app_server.url, "Please stop me")
    wait_state(answer, "streaming")
    page.wait_for_function("el => el.innerText.length > 60", arg=answer.element_handle())
    answer.locator('button[aria-label="Stop"]').click()
    wait_state(answer, "stopped")
    run = run_of(app_server.url, answer)
    assert run["state"] == "stopped"
    assert 0 < len(run["text"]) and END_OF_DEMO not in run["text"]
    assert answer.locator('button[aria-label="Stop"]').count() == 0
    assert rendered_from_database(context, page.url) == answer.locator(".ub-answer-text").inner_text()
    screenshot(page, "stopped")
    answer.locator('button[aria-label="Continue"]').click()  # the same answer goes on from there
    wait_state(answer, "complete")
    final = answer.locator(".ub-answer-text").inner_text()
    assert final.count(END_OF_DEMO) == 1 and final.count("Demo answer") == 1
    assert rendered_from_database(context, page.url) == final


def test_nothing_is_sent_before_the_page_has_loaded_and_an_empty_message_gets_a_notice(app_server, context):
    """Sent before the page's load (Reflex's on_load) had run, a message was handled first and
    the load then cleared what it showed."""
    page = context.new_page()
    websocket = HeldWebsocket(page)
    page.goto(app_server.url)
    websocket.wait_held()
    composer, send = page.locator('textarea[aria-label="Message"]'), page.locator('button[aria-label="Send"]')
    expect(composer).not_to_be_editable()
    expect(composer).to_have_attribute("placeholder", "Connecting…")
    expect(send).to_be_disabled()
    composer.focus()
    page.keyboard.type("   ")
    page.keyboard.press("Enter")
    expect(composer).to_have_value("")
    websocket.release()
    expect(composer).to_be_editable(timeout=30_000)
    composer.fill("   ")
    send.click()
    page.wait_for_selector('[role="alert"]:has-text("The message is empty.")')
    assert page.locator(ANSWER).count() == 0 and page.url.rstrip("/") == app_server.url
