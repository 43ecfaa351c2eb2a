// Following a run's event stream from the browser: EventSource, reconnect, watchdog.
//
// All I/O lives here; what an event means is decided by the caller's onEvent (which applies
// it with stream_apply.js and answers "applied", "duplicate" or "gap"). The browser's own
// EventSource reconnect handles short blips (it sends Last-Event-ID); when it gives up
// (readyState CLOSED after a 502/503 or a refused connection) we open a new EventSource with
// ?after=<last applied seq> after a backoff with full jitter. An `end` is final only when
// the server then closes the stream (a continuation may follow it in the same response),
// so the stream is let go when it closes after an applied end.

import { backoffDelayMs, urlAfter } from "./stream_apply.js";

const EVENT_KINDS = ["delta", "status", "end"];

export function followRun({ url, getLastSeq, isEnded, heartbeatMs, onEvent, onConnection }) {
  let source = null;
  let attempt = 0;
  let retryTimer = null;
  let watchdogTimer = null;
  let stopped = false;

  const report = (state, extra = {}) => onConnection({ state, attempt, ...extra });

  function clearTimers() {
    clearTimeout(retryTimer);
    clearTimeout(watchdogTimer);
    retryTimer = watchdogTimer = null;
  }

  function closeSource() {
    if (source) {
      source.close();
      source = null;
    }
  }

  // No byte at all (not even a ping) for twice the heartbeat: the connection is dead.
  function armWatchdog() {
    clearTimeout(watchdogTimer);
    watchdogTimer = setTimeout(() => (isEnded() ? finish() : reconnectNow("no heartbeat")), heartbeatMs * 2);
  }

  function open() {
    if (stopped) return;
    if (typeof navigator !== "undefined" && navigator.onLine === false) {
      closeSource();
      report("offline");
      return;
    }
    closeSource();
    const es = new EventSource(urlAfter(url, getLastSeq()));
    source = es;
    armWatchdog();
    es.onopen = () => {
      attempt = 0;
      armWatchdog();
      report("live");
    };
    es.addEventListener("ping", armWatchdog);
    for (const kind of EVENT_KINDS) {
      es.addEventListener(kind, (message) => {
        armWatchdog();
        let data;
        try {
          data = JSON.parse(message.data);
        } catch {
          return reconnectNow("a damaged event"); // resume from what was applied
        }
        const outcome = onEvent(kind, data);
        if (outcome === "gap") reconnectNow("a gap");
      });
    }
    es.onerror = () => {
      if (stopped || es !== source) return;
      if (isEnded()) return finish(); // the server closed the stream after the run's end
      attempt += 1;
      if (es.readyState === EventSource.CONNECTING) {
        report("reconnecting", { cause: "a closed stream" }); // the browser retries by itself, with Last-Event-ID
      } else {
        reopen(backoffDelayMs(attempt), "a failed stream"); // the browser gave up (CLOSED): ours takes over
      }
    };
  }

  // cause: why, in a few words, for the run's timeline ("Browser reconnecting after …").
  function reconnectNow(cause) {
    attempt += 1;
    reopen(0, cause);
  }

  function reopen(delayMs, cause) {
    if (stopped) return;
    closeSource();
    clearTimers();
    report("reconnecting", { nextTryAt: Date.now() + delayMs, cause });
    retryTimer = setTimeout(open, delayMs);
  }

  function finish() {
    teardown();
    report("closed");
  }

  function teardown() {
    stopped = true;
    clearTimers();
    closeSource();
    window.removeEventListener("online", onOnline);
    window.removeEventListener("offline", onOffline);
    window.removeEventListener("pageshow", onShown);
    document.removeEventListener("visibilitychange", onShown);
    document.removeEventListener("resume", onShown);
  }

  const onOnline = () => reconnectNow("coming back online");
  const onOffline = () => {
    if (stopped) return;
    closeSource();
    clearTimers();
    report("offline");
  };
  // Shown again (tab switch, back/forward cache, a frozen background tab resumed): a stream
  // that is not open is reopened at once instead of waiting for a backoff timer.
  const onShown = () => {
    if (document.visibilityState === "visible" && !stopped && (!source || source.readyState !== EventSource.OPEN)) {
      reconnectNow("the page was shown again");
    }
  };
  window.addEventListener("online", onOnline);
  window.addEventListener("offline", onOffline);
  window.addEventListener("pageshow", onShown);
  document.addEventListener("visibilitychange", onShown);
  document.addEventListener("resume", onShown);

  report("connecting");
  open();

  return { close: teardown };
}
