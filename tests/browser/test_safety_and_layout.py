"""Model output is shown, never run; the page fits a phone; light and dark themes."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.browser.test_chat_page import ANSWER, ask, wait_state
from tests.browser.test_upstream_states import ask_fake
from tests.fakes.upstream import Answer

pytestmark = [pytest.mark.browser, pytest.mark.workers]


class Attacker:
    """A loopback server that counts every request a page makes to it."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        attacker = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's naming)
                attacker.requests.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture
def attacker():
    server = Attacker()
    yield server
    server.close()


def xss_corpus(origin: str) -> str:
    return "\n\n".join([
        "Here is some *harmless* text.",
        "<script>window.__pwned = 'script'</script>",
        f"<img src=\"{origin}/img-onerror.png\" onerror=\"window.__pwned = 'onerror'\">",
        "<iframe src=\"javascript:window.__pwned='iframe'\"></iframe>",
        "<svg onload=\"window.__pwned='svg'\"></svg>",
        "[a javascript link](javascript:window.__pwned='link')",
        "[a data link](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
        f"![tracking pixel]({origin}/pixel.png)",
        f"<a href=\"{origin}/raw-link\" onclick=\"window.__pwned='onclick'\">raw html link</a>",
        f"[a real link]({origin}/page)",
        "<style>body { display: none }</style>",
        "The end.",
    ])


def test_model_output_runs_nothing_and_calls_no_url(app_server, fake_upstream, context, attacker, screenshot):
    fake_upstream.set_script(Answer(text=xss_corpus(attacker.url), chunk_chars=7, delay_s=0.005))
    page = context.new_page()
    answer = ask_fake(page, app_server.url, "Show me something dangerous")
    wait_state(answer, "complete")
    page.reload()  # and once more from the database snapshot
    answer = page.locator(ANSWER).last
    wait_state(answer, "complete")
    text = answer.inner_text()
    assert "<script>window.__pwned = 'script'</script>" in text  # raw HTML is shown as text
    assert "The end." in text and page.locator("body").is_visible()
    assert page.evaluate("window.__pwned") is None
    assert answer.locator("script, iframe, svg, style, img").count() == 0
    hrefs = answer.locator("a").evaluate_all("links => links.map(a => [a.getAttribute('href'), a.rel, a.target])")
    assert all(not (href or "").startswith(("javascript:", "data:")) for href, _, _ in hrefs)
    assert all(rel == "noopener noreferrer" and target == "_blank" for href, rel, target in hrefs if href)
    assert attacker.requests == []  # no image, no prefetch: the model cannot make the browser call a URL
    screenshot(page, "xss-corpus")


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_chat_fits_a_phone_in_both_themes(app_server, browser, scheme, screenshot):
    context = browser.new_context(viewport={"width": 360, "height": 740}, color_scheme=scheme)
    try:
        page = context.new_page()
        page.goto(app_server.url)
        page.fill('textarea[aria-label="Message"]', "A long question " + "with_an_unbreakable_word_" * 8)
        page.keyboard.press("Enter")
        page.wait_for_url("**/c/*")
        answer = page.locator(ANSWER).last
        wait_state(answer, "complete")
        widest = page.evaluate(
            """() => [...document.querySelectorAll('body *')]
                .filter(el => !el.closest('pre'))  // code blocks scroll inside themselves
                .map(el => [el.getBoundingClientRect().right, el.tagName + '.' + el.className])
                .filter(([right]) => right > document.documentElement.clientWidth + 1)"""
        )
        assert widest == [], widest[:8]  # nothing reaches past the right edge (hidden or not)
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0
        screenshot(page, f"phone-{scheme}")
    finally:
        context.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_main_screen_follows_the_system_theme(app_server, browser, scheme, screenshot):
    context = browser.new_context(viewport={"width": 1100, "height": 720}, color_scheme=scheme)
    try:
        page = context.new_page()
        answer = ask(page, app_server.url, "What does Unbroken do?")
        wait_state(answer, "complete")
        background = page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert background == {"light": "rgb(255, 255, 255)", "dark": "rgb(17, 17, 19)"}[scheme]
        screenshot(page, f"main-{scheme}")
    finally:
        context.close()
