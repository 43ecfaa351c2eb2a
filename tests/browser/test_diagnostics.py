"""/diagnostics in headless Chromium: straight to the app, through the recommended nginx, and
through a buffering nginx, which the page must catch. The app's heartbeat is 1 s here."""

from __future__ import annotations

import threading

import httpx
import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

CHECKS = ("buffering", "heartbeat", "connections")


def row(page, check: str):
    return page.locator(f'[data-testid="diag-{check}"]')


def result_of(page, check: str, timeout_ms: int = 30_000) -> str:
    """The check's result once it is no longer running."""
    page.wait_for_selector(f'[data-testid="diag-{check}"]:not([data-result="running"])', timeout=timeout_ms)
    return row(page, check).get_attribute("data-result")


def open_diagnostics(context, base_url: str, query: str = ""):
    page = context.new_page()
    page.goto(f"{base_url}/diagnostics{query}")
    row(page, "buffering").wait_for()
    return page


def test_straight_to_the_app_the_stream_is_live_and_heartbeats_arrive(app_server, context, screenshot):
    page = open_diagnostics(context, app_server.url)
    assert {check: result_of(page, check) for check in CHECKS} == {c: "ok" for c in CHECKS}
    assert row(page, "buffering").inner_text().count("Streams live: 10 events") == 1
    assert "Heartbeats arrive every 1.0 s" in row(page, "heartbeat").inner_text()
    assert row(page, "idle").get_attribute("data-result") == "not-run"  # minutes long: only on request
    assert page.locator('[data-testid="chaos-section"] h2').inner_text() == "Chaos mode"
    screenshot(page, "diagnostics")


def test_run_checks_again_runs_them_again(app_server, context):
    page = open_diagnostics(context, app_server.url)
    again = page.get_by_role("button", name="Run checks again")
    result_of(page, "heartbeat")
    again.click()
    page.wait_for_selector('[data-testid="diag-buffering"][data-result="running"]')
    assert again.is_disabled()
    assert result_of(page, "heartbeat") == "ok" and result_of(page, "buffering") == "ok"
    assert again.is_enabled()


def test_through_the_recommended_nginx_config_the_stream_is_live(app_server, context, nginx_in_front):
    nginx = nginx_in_front("streaming")
    page = open_diagnostics(context, nginx.url)
    assert result_of(page, "buffering") == "ok"
    assert result_of(page, "heartbeat") == "ok"
    assert "Streams live" in row(page, "buffering").inner_text()


def test_through_a_buffering_nginx_the_page_finds_the_buffering_and_says_what_to_do(
    app_server, context, nginx_in_front, screenshot
):
    nginx = nginx_in_front("buffering")
    page = open_diagnostics(context, nginx.url)
    assert result_of(page, "buffering") == "fail"
    text = row(page, "buffering").inner_text()
    assert text.startswith("Event stream delivery") and "Buffered: 10 events sent over" in text
    assert "proxy_buffering off" in text and "X-Accel-Buffering: no" in text
    assert result_of(page, "heartbeat") == "fail"  # held back with the rest
    assert row(page, "buffering").locator("code").first.inner_text() == "proxy_buffering off"
    screenshot(page, "diagnostics-buffering-proxy")


def test_streams_the_browser_address_already_holds_are_counted_and_many_warn(app_server, context):
    release = threading.Event()
    opened = threading.Semaphore(0)

    def hold() -> None:
        with httpx.Client(timeout=60) as client, client.stream(
            "GET", f"{app_server.url}/api/diagnostics/idle?seconds=60"
        ) as resp:
            chunks = resp.iter_raw()  # kept: dropping it would close the connection
            next(chunks)
            opened.release()
            release.wait(60)

    holders = [threading.Thread(target=hold, daemon=True) for _ in range(4)]
    for holder in holders:
        holder.start()
    try:
        for _ in holders:
            assert opened.acquire(timeout=10)
        page = open_diagnostics(context, app_server.url)
        assert result_of(page, "connections") == "warn"
        text = row(page, "connections").inner_text()
        assert "event streams are already open from your address" in text and "about 6 connections" in text
    finally:
        release.set()
        for holder in holders:
            holder.join(10)


def test_measuring_the_idle_timeout_tries_each_silence_and_reports_the_longest(app_server, context):
    page = open_diagnostics(context, app_server.url, "?idle_steps=1,2")
    result_of(page, "heartbeat")
    page.get_by_role("button", name="Measure idle timeout").click()
    page.wait_for_selector('[data-testid="diag-idle"][data-result="running"]')
    assert "silent for 1 s" in row(page, "idle").inner_text() or "silent for 2 s" in row(page, "idle").inner_text()
    assert result_of(page, "idle") == "ok"
    assert "Idle connections survive at least 2 s" in row(page, "idle").inner_text()


def test_the_chat_links_to_the_diagnostics(app_server, context):
    page = context.new_page()
    page.goto(app_server.url)
    page.get_by_role("link", name="Connection diagnostics").click()
    page.wait_for_url("**/diagnostics")
    expect(page.locator("h1")).to_have_text("Connection diagnostics")  # rendered after the URL changes
    assert result_of(page, "buffering") == "ok"


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_diagnostics_fit_a_phone_in_both_themes(app_server, browser, scheme, screenshot):
    context = browser.new_context(viewport={"width": 360, "height": 740}, color_scheme=scheme)
    try:
        page = open_diagnostics(context, app_server.url)
        result_of(page, "heartbeat")
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0
        badge = row(page, "buffering").locator(".ub-diag-badge")
        assert badge.inner_text() == "OK"
        assert badge.evaluate("el => getComputedStyle(el).color") == {
            "light": "rgb(46, 125, 50)", "dark": "rgb(143, 214, 148)"}[scheme]
        screenshot(page, f"diagnostics-phone-{scheme}")
    finally:
        context.close()
