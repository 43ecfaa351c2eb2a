"""Chaos mode in a real browser: the exact answer arrives despite the injected faults, and the
answer's Details show the reconnects; the support report carries the browser's side."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from app.engine.providers.demo import demo_answer
from tests.browser.clipboard import wait_for_clipboard
from tests.browser.conftest import ARTIFACTS
from tests.browser.test_chat_page import ask, wait_state

pytestmark = pytest.mark.browser

FAULTS = ["rate_limit", "overload", "upstream_drop", "stream_cut"]  # a stall would wait out the 30 s idle timeout
FAULT_LABELS = ["HTTP 429", "HTTP 503", "dropped mid-answer", "stream to the browser cut"]


@pytest.fixture
def chaos(app_server):
    """Chaos mode switched off again after the test, whatever happens (the app is shared)."""
    yield
    httpx.put(f"{app_server.url}/api/chaos", json={"enabled": False}, timeout=10)


def switch_chaos_on(page, base_url: str) -> None:
    """With the switch on /diagnostics: the faults of FAULTS only, then on."""
    page.goto(f"{base_url}/diagnostics")
    section = page.locator('[data-testid="chaos-section"]')
    section.get_by_text("Chaos mode is off").wait_for()
    for fault in section.locator('fieldset input[type="checkbox"]').all():
        fault_name = fault.get_attribute("aria-label")
        wanted = any(label in fault_name for label in FAULT_LABELS)
        if fault.is_checked() != wanted:
            fault.click()
            page.wait_for_function(
                "([el, wanted]) => el.checked === wanted", arg=[fault.element_handle(), wanted]
            )
    section.locator('input[aria-label="Chaos mode"]').click()
    section.get_by_text("Chaos mode is on").wait_for()
    chaos = httpx.get(f"{base_url}/api/chaos", timeout=10).json()
    assert (chaos["enabled"], chaos["faults"]) == (True, FAULTS)


def test_chaos_mode_cannot_break_an_answer_and_details_show_why(app_server, browser, chaos):
    context = browser.new_context(permissions=["clipboard-read", "clipboard-write"], viewport={"width": 1000, "height": 2000})
    context.set_default_timeout(30_000)
    try:
        page = context.new_page()
        switch_chaos_on(page, app_server.url)
        question = "Show me chaos mode at work"
        answer = ask(page, app_server.url, question)
        assert "Chaos mode is on" in page.locator('[data-testid="chaos-banner"]').inner_text()
        wait_state(answer, "complete", timeout_ms=60_000)

        # The exact text, as the page applied it (Copy copies the page's own text).
        answer.locator('button[aria-label="Copy"]').click()
        assert wait_for_clipboard(page, lambda text: text.startswith("**Demo answer**")) == demo_answer(question)

        # The browser reports its reconnects in batches (best effort): wait until they arrived.
        run_id = answer.get_attribute("data-run-id")
        timeline_url = f"{app_server.url}/api/runs/{run_id}/timeline"
        deadline = time.monotonic() + 20
        while not any(e["source"] == "browser" and e["kind"] == "reconnect"
                      for e in httpx.get(timeline_url, timeout=10).json()["entries"]):
            assert time.monotonic() < deadline, "the browser's reconnects never reached the server"
            time.sleep(0.2)

        # Details: the failed attempts, the cut streams and the browser's reconnects.
        answer.locator('button[aria-label="Details"]').click()
        details = answer.locator('[data-testid="run-details"]')
        details.locator('li[data-kind="end"]').wait_for()
        assert "chaos mode" in details.locator('li[data-kind="attempt_end"]').first.inner_text()
        reconnects = details.locator('li[data-source="browser"][data-kind="reconnect"]')
        assert reconnects.count() >= 1
        assert "resuming after event" in reconnects.first.inner_text()
        reopened = details.locator('li[data-kind="stream_open"]', has_text="reopened")
        assert reopened.count() >= 1
        assert details.locator('li[data-kind="stream_close"]', has_text="chaos mode").count() >= 1
        assert details.locator('li[data-kind="end"]').inner_text().endswith("Ended: complete")
        ARTIFACTS.mkdir(exist_ok=True)
        answer.screenshot(path=str(ARTIFACTS / "answer-details.png"))  # the README shows it

        details.locator('button[aria-label="Copy support report"]').click()
        report = json.loads(wait_for_clipboard(page, lambda text: "unbroken-support-report" in text))
        assert report["run"]["state"] == "complete"
        assert any(e["kind"] == "reconnect" for e in report["browser"]["connection_events"])
        assert report["browser"]["user_agent"]
        assert question not in json.dumps(report)
    finally:
        context.close()
