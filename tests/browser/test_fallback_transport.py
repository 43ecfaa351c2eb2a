"""Slow connection mode: behind a proxy that buffers event streams the answer still arrives
progressively, by long polling; with a proxy that streams (or none) the page stays on the
event stream.

The answer comes from the fake upstream, slow enough (about 10 s) to outlast the 4 s the page
gives a stream to bring its first ping (assets/transport_choice.js).
"""

from __future__ import annotations

import httpx
import pytest

from tests.browser.conftest import FAKE_MODEL
from tests.browser.test_chat_page import ANSWER, ask, wait_state
from tests.fakes.upstream import Answer

pytestmark = [pytest.mark.browser, pytest.mark.workers]

SLOW_TEXT = " ".join(f"word{n}" for n in range(120))
SLOW_ANSWER = Answer(text=SLOW_TEXT, chunk_chars=8, delay_s=0.1)
FAKE = f"openai:{FAKE_MODEL}"

# Every value data-conn-state takes on the page, in order (installed before the page's scripts).
RECORD_CONN_STATES = """
window.__connStates = [];
new MutationObserver((records) => {
  for (const record of records) window.__connStates.push(record.target.getAttribute("data-conn-state"));
}).observe(document, { subtree: true, attributes: true, attributeFilter: ["data-conn-state"] });
"""


def _text_longer_while_streaming(page, run_id: str, length: int) -> None:
    page.wait_for_function(
        """([selector, length]) => {
             const el = document.querySelector(selector);
             return el && el.dataset.runState === "streaming"
               && el.querySelector(".ub-answer-text").innerText.length > length;
           }""",
        arg=[f'{ANSWER}[data-run-id="{run_id}"]', length],
        timeout=15_000,
    )


def _answer_text(answer) -> str:
    return answer.locator(".ub-answer-text").inner_text().strip()


def test_behind_a_buffering_proxy_the_answer_arrives_progressively_by_long_polling(
    context, nginx_in_front, fake_upstream, screenshot,
):
    fake_upstream.set_script(SLOW_ANSWER)
    nginx = nginx_in_front("buffering")
    page = context.new_page()
    answer = ask(page, nginx.url, "Does slow connection mode work?", model=FAKE)
    run_id = answer.get_attribute("data-run-id")
    page.wait_for_selector(f'{ANSWER}[data-run-id="{run_id}"][data-conn-state="polling"]', timeout=15_000)
    assert answer.locator(".ub-conn").inner_text() == "Slow connection mode"
    # Progressive: the text grows twice while the run is still streaming.
    _text_longer_while_streaming(page, run_id, 0)
    first = len(_answer_text(answer))
    _text_longer_while_streaming(page, run_id, first)
    screenshot(page, "slow-connection-mode")
    wait_state(answer, "complete")
    assert _answer_text(answer) == SLOW_TEXT
    run = httpx.get(f"{nginx.url}/api/runs/{run_id}", timeout=10).json()
    assert run["state"] == "complete"
    assert f"GET /api/runs/{run_id}/poll?after=" in nginx.access_log()


@pytest.mark.parametrize("path", ["direct", "streaming nginx"])
def test_with_a_working_event_stream_the_page_never_polls(context, nginx_in_front, fake_upstream, app_server, path):
    fake_upstream.set_script(SLOW_ANSWER)
    nginx = nginx_in_front("streaming") if path == "streaming nginx" else None
    base_url = nginx.url if nginx else app_server.url
    context.add_init_script(RECORD_CONN_STATES)
    page = context.new_page()
    answer = ask(page, base_url, "Does the stream stay a stream?", model=FAKE)
    wait_state(answer, "streaming")
    wait_state(answer, "complete")
    assert _answer_text(answer) == SLOW_TEXT
    states = page.evaluate("window.__connStates")
    assert "live" in states and "polling" not in states, states
    run_id = answer.get_attribute("data-run-id")
    if nginx:
        assert "/poll" not in nginx.access_log()
        assert f"GET /api/runs/{run_id}/events" in nginx.access_log()
