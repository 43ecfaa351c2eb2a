"""M7 and M8 in the browser: the real app (``scripts/run``, production build) and headless Chromium.

M7 — main-thread time. CDP ``Performance.getMetrics`` gives the page's ``TaskDuration`` (all
main-thread tasks: script, style, layout, paint); the difference over a window is what the
page spent. Streamed: from a loaded new chat, type the question, Enter, until the answer's
``data-run-state`` is ``complete`` and its text has stopped changing. Baseline, "rendering the
final answer once": open the finished conversation (``/c/<id>``, its text from the database)
in a fresh page, until the answer is shown and the page is quiet, minus the same load of an
empty new chat (what the page costs without an answer); both loads are medians of a few.
Long frames: a ``long-animation-frame`` PerformanceObserver (installed before the page's
scripts), the longest frame that started after the question was sent. Text complete: the page
wraps ``EventSource`` listeners to note when the last ``delta`` event was dispatched, and a
MutationObserver notes the last change inside the answer's text; the figure is the second
minus the first. Dispatch is on the main thread, so time an event waits behind other tasks
before dispatch is not in this figure (it is in the long frames).

M8 — bytes to the browser. The page wraps ``WebSocket`` to add up the received messages'
lengths (Reflex's socket.io frames; ASCII JSON, so characters are bytes), and CDP
``Network.loadingFinished`` gives the event stream's encoded bytes (headers included).
Product: websocket + event stream, from sending the question to the answer's completion.
Baseline: ``bench/reflex_baseline.py``'s page, the same answer from the same fake, a yield
per token; its websocket bytes over the same window.
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import httpx

from bench.procs import ROOT, Server, free_port
from bench.stats import result
from bench.upstream import answer_text

CHROMIUM = os.environ.get("UNBROKEN_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
START_TIMEOUT_S = 600
M7_RUNS = ((100.0, int(os.environ.get("BENCH_M7_SLOW_TOKENS", "10000"))), (3000.0, 10_000))  # tokens/s, tokens
M8_RATE, M8_TOKENS = 3000.0, 10_000
BASELINE_LOADS = 3
QUIET_MS = 700  # the page is "quiet" when TaskDuration grows by less than 5 ms in this long
MODEL = "bench"

# Installed before any of the page's scripts (add_init_script).
_INSTRUMENT = """
(() => {
  const b = (window.__bench = { lastDelta: 0, deltas: 0, lastTextChange: 0, frames: [], wsBytes: 0 });
  const add = EventSource.prototype.addEventListener;
  EventSource.prototype.addEventListener = function (kind, listener, options) {
    const wrapped = kind === "delta" ? function (message) {
      b.lastDelta = performance.now(); b.deltas += 1; return listener.call(this, message);
    } : listener;
    return add.call(this, kind, wrapped, options);
  };
  const WS = window.WebSocket;
  window.WebSocket = class extends WS {
    constructor(...args) {
      super(...args);
      this.addEventListener("message", (m) => {
        b.wsBytes += typeof m.data === "string" ? m.data.length : (m.data.byteLength || m.data.size || 0);
      });
    }
  };
  try {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) b.frames.push([e.startTime, e.duration]);
    }).observe({ type: "long-animation-frame", buffered: true });
  } catch (e) { b.noLoaf = String(e); }
  new MutationObserver((records) => {
    for (const r of records) {
      const node = r.target.nodeType === 1 ? r.target : r.target.parentElement;
      if (node && node.closest && node.closest(".ub-answer-text")) { b.lastTextChange = performance.now(); return; }
    }
  }).observe(document, { subtree: true, childList: true, characterData: true });
})();
"""


class App:
    """``scripts/run`` (production mode, one port) in its own process group."""

    def __init__(self, upstream_url: str, workdir: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = Path(workdir) / "browser-app.log"
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "ANTHROPIC_", "OLLAMA_"))},
            "PORT": str(self.port),
            "DATABASE_URL": f"sqlite:///{workdir}/browser.db",
            "OPENAI_BASE_URL": f"{upstream_url}/v1",
            "OPENAI_API_KEY": "x",
            "OPENAI_MODEL": MODEL,
            "UNBROKEN_DEFAULT_MODEL": f"openai:{MODEL}",
            "UNBROKEN_DEMO": "off",
            "UNBROKEN_BENCH_PAGES": "on",
        }

    def __enter__(self) -> App:
        with open(self.log_path, "a") as log:
            self.process = subprocess.Popen(["scripts/run"], cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"scripts/run exited with {self.process.returncode}:\n"
                                   f"{self.log_path.read_text()[-4000:]}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        self.__exit__()
        raise RuntimeError(f"the app did not answer within {START_TIMEOUT_S} s")

    def __exit__(self, *exc) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        except ProcessLookupError:
            pass


def _task_ms(cdp) -> float:
    metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
    return metrics["TaskDuration"] * 1000


def _wait_quiet(page, cdp, timeout_s: float = 30.0) -> float:
    """Wait until the main thread stays (nearly) idle for QUIET_MS; returns TaskDuration then."""
    deadline = time.monotonic() + timeout_s
    last = _task_ms(cdp)
    while time.monotonic() < deadline:
        page.wait_for_timeout(QUIET_MS)
        now = _task_ms(cdp)
        if now - last < 5:
            return now
        last = now
    return last


def _new_page(context):
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("Performance.enable", {"timeDomain": "threadTicks"})
    return page, cdp


def _stream_in_app(context, app_url: str, tokens: int, rate: float, tag: str) -> dict:
    page, cdp = _new_page(context)
    stream_bytes: dict[str, int] = {}
    requests: dict[str, str] = {}
    cdp.send("Network.enable")
    cdp.on("Network.requestWillBeSent", lambda e: requests.__setitem__(e["requestId"], e["request"]["url"]))
    cdp.on("Network.loadingFinished", lambda e: stream_bytes.__setitem__(e["requestId"], e["encodedDataLength"]))
    page.goto(app_url + "/")
    page.wait_for_selector('textarea[aria-label="Message"]')
    _wait_quiet(page, cdp)
    start_ms = _task_ms(cdp)
    ws_before = page.evaluate("window.__bench.wsBytes")
    sent_at = page.evaluate("performance.now()")
    started = time.monotonic()
    page.fill('textarea[aria-label="Message"]', f"bench tokens={tokens} rate={rate:g} id={tag} md=1")
    page.press('textarea[aria-label="Message"]', "Enter")
    answer = page.locator('[data-testid="assistant-message"]').last
    answer.wait_for()
    page.wait_for_function(
        "() => { const a = [...document.querySelectorAll('[data-testid=assistant-message]')].pop();"
        " return a && a.dataset.runState === 'complete'; }",
        timeout=(tokens / rate + 60) * 1000, polling=200)
    end_ms = _wait_quiet(page, cdp)
    wall_s = time.monotonic() - started
    page.wait_for_timeout(300)  # the event stream's loadingFinished follows its end event
    b = page.evaluate("window.__bench")
    text = page.locator('[data-testid="assistant-message"] .ub-answer-text').last.inner_text()
    conversation = page.url.rstrip("/").rsplit("/c/", 1)[-1] if "/c/" in page.url else None
    events = [n for rid, n in stream_bytes.items() if "/api/runs/" in requests.get(rid, "") and "/events" in requests[rid]]
    page.close()
    frames = sorted(((round(s - sent_at), round(d)) for s, d in b["frames"] if s >= sent_at), key=lambda f: -f[1])
    return {"main_thread_ms": end_ms - start_ms, "wall_s": wall_s, "text": text, "conversation": conversation,
            "max_frame_ms": float(frames[0][1]) if frames else 0.0, "long_frames": len(frames),
            "longest_frames": frames[:3], "no_loaf": b.get("noLoaf"),
            "text_complete_ms": b["lastTextChange"] - b["lastDelta"], "delta_events": b["deltas"],
            "ws_bytes": b["wsBytes"] - ws_before, "event_stream_bytes": sum(events), "event_streams": len(events)}


def _load_ms(context, url: str, selector: str) -> tuple[float, str]:
    """Main-thread time of loading ``url`` until ``selector`` is shown and the page is quiet."""
    page, cdp = _new_page(context)
    page.goto(url)
    element = page.locator(selector).last
    element.wait_for()
    spent = _wait_quiet(page, cdp)
    text = element.inner_text() if selector.endswith(".ub-answer-text") else ""
    frames = page.evaluate("window.__bench.frames")
    page.close()
    return spent, text, max((d for _, d in frames), default=0.0)


def _baseline(context, app_url: str, conversation: str) -> dict:
    full, empty, frames, text = [], [], [], ""
    for _ in range(BASELINE_LOADS):  # alternate the two loads
        spent, text, frame = _load_ms(context, f"{app_url}/c/{conversation}",
                                      '[data-testid="assistant-message"] .ub-answer-text')
        full.append(spent)
        frames.append(frame)
        empty.append(_load_ms(context, app_url + "/", 'textarea[aria-label="Message"]')[0])
    return {"conversation_load_ms": statistics.median(full), "empty_load_ms": statistics.median(empty),
            "render_once_ms": statistics.median(full) - statistics.median(empty), "text": text,
            "max_frame_ms": round(statistics.median(frames), 1)}


def _reflex_state_bytes(context, app_url: str, tokens: int, rate: float) -> dict:
    page, _cdp = _new_page(context)
    page.goto(app_url + "/bench/reflex-stream")
    page.wait_for_selector('input[aria-label="Question"]')
    page.wait_for_timeout(1000)
    before = page.evaluate("window.__bench.wsBytes")
    started = time.monotonic()
    page.fill('input[aria-label="Question"]', f"bench tokens={tokens} rate={rate:g} id=m8-reflex md=1")
    page.press('input[aria-label="Question"]', "Enter")
    page.wait_for_selector('[data-testid="bench-answer"][data-done="true"]', timeout=600_000, state="attached")
    wall_s = time.monotonic() - started
    received = page.evaluate("window.__bench.wsBytes") - before
    length = page.evaluate("document.querySelector('[data-testid=bench-answer]').textContent.length")
    page.close()
    return {"ws_bytes": received, "wall_s": wall_s, "chars": length}


def measure(upstream_url: str, only: set[str]) -> list[dict]:
    from playwright.sync_api import sync_playwright

    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="unbroken-bench-browser-") as workdir, App(upstream_url, workdir) as app, \
            sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1100, "height": 800})
        context.set_default_timeout(60_000)
        context.add_init_script(_INSTRUMENT)
        try:
            if not only or "M7" in only:
                rows += _m7(context, app.url)
            if not only or "M8" in only:
                rows += _m8(context, app.url)
        finally:
            context.close()
            browser.close()
    return rows


def _m7(context, app_url: str) -> list[dict]:
    rows = []
    for rate, tokens in M7_RUNS:
        streamed = _stream_in_app(context, app_url, tokens, rate, f"m7-{rate:g}")
        base = _baseline(context, app_url, streamed["conversation"])
        same_text = streamed["text"] == base["text"]
        if not same_text:
            raise RuntimeError("the streamed answer's text differs from the same answer rendered once")
        target = 5.0 if rate <= 100 else 2.0
        ratio = streamed["main_thread_ms"] / base["render_once_ms"]
        details = {k: round(v, 1) if isinstance(v, float) else v for k, v in {
            "streamed_main_thread_ms": streamed["main_thread_ms"], "render_once_ms": base["render_once_ms"],
            "conversation_load_ms": base["conversation_load_ms"], "empty_load_ms": base["empty_load_ms"],
            "ratio_to_whole_load": streamed["main_thread_ms"] / base["conversation_load_ms"],
            "stream_wall_s": streamed["wall_s"], "delta_events": streamed["delta_events"],
            "answer_chars": len(answer_text(tokens, markdown=True))}.items()}
        label = f"{tokens} markdown tokens at {rate:g} tokens/s"
        rows.append(result(f"M7/main-{rate:g}", f"browser main-thread time to show a streamed answer, {label}",
                           "the finished answer rendered once (its page load minus an empty chat's)", ratio,
                           f"≤ {target:g}×", ratio <= target, **details))
        rows.append(result(f"M7/frame-{rate:g}", f"longest animation frame while it streams, {label}", "—",
                           streamed["max_frame_ms"], "≤ 50 ms", streamed["max_frame_ms"] <= 50, unit="ms",
                           long_frames_over_50ms=streamed["long_frames"],
                           longest_ms_after_send_and_duration=streamed["longest_frames"],
                           render_once_longest_frame_ms=base["max_frame_ms"]))
        rows.append(result(f"M7/complete-{rate:g}", f"text complete after the last delta event, {label}", "—",
                           streamed["text_complete_ms"], "≤ 50 ms", streamed["text_complete_ms"] <= 50, unit="ms"))
    return rows


def _m8(context, app_url: str) -> list[dict]:
    product = _stream_in_app(context, app_url, M8_TOKENS, M8_RATE, "m8-app")
    baseline = _reflex_state_bytes(context, app_url, M8_TOKENS, M8_RATE)
    answer_bytes = len(answer_text(M8_TOKENS, markdown=True).encode())
    if baseline["chars"] != answer_bytes:
        raise RuntimeError(f"the Reflex-state page showed {baseline['chars']} of {answer_bytes} characters")
    sent = product["ws_bytes"] + product["event_stream_bytes"]
    ratio = sent / baseline["ws_bytes"]
    return [result("M8/reflex", f"bytes to the browser for a {M8_TOKENS}-token markdown answer at {M8_RATE:g} tokens/s",
                   "the same answer streamed through Reflex state, a yield per token", ratio, "≤ 0.05×", ratio <= 0.05,
                   app_websocket_bytes=product["ws_bytes"], app_event_stream_bytes=product["event_stream_bytes"],
                   reflex_state_websocket_bytes=baseline["ws_bytes"], answer_bytes=answer_bytes,
                   app_per_answer_byte=round(sent / answer_bytes, 2),
                   reflex_state_per_answer_byte=round(baseline["ws_bytes"] / answer_bytes, 1),
                   reflex_state_wall_s=round(baseline["wall_s"], 1))]


if __name__ == "__main__":  # quick try: python -m bench.browser [M7,M8]
    import json
    import sys

    with Server("bench.upstream") as up:
        wanted = set(sys.argv[1].split(",")) if len(sys.argv) > 1 else set()
        print(json.dumps(measure(up.url, wanted), indent=2))
