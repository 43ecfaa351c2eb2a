// Following a run's event stream from the browser: EventSource, reconnect, watchdog.
//
// All I/O lives here; what an event means is decided by the caller's onEvent (which applies
// it with stream_apply.js and answers "applied", "duplicate" or "gap"). The browser's own
// EventSource reconnect handles short blips (it sends Last-Event-ID); when it gives up
// (readyState CLOSED after a 502/503 or a refused connection) we open a new EventSource with
// ?after=<last applied seq> after a backoff with full jitter. An `end` is final only when
// the server then closes the stream (a continuation may follow it in the same response),
// so the stream is let go when it closes after an applied end.
//
// When the stream is unusable (transport_choice.js decides: answered but no ping, or closed
// right after opening again and again) the run is followed by long polling instead
// (poll_client.js, state "polling"), and the event stream is probed now and then in the
// background; the page switches back once a probe brings a ping. Only one transport applies
// events at a time, and both apply through onEvent, so each seq is still applied once.

import { followByPolling } from "./poll_client.js";
import { backoffDelayMs, urlAfter } from "./stream_apply.js";
import {
  FIRST_PING_DEADLINE_MS, FIRST_PING_REQUEST_DEADLINE_MS, QUICK_CLOSES_TO_FALL_BACK, newAttempt, pollUrlFor, probeDelayMs, silenceLimitMs,
  streamVerdict,
} from "./transport_choice.js";

const EVENT_KINDS = ["delta", "status", "end"];

export function followRun({ url, getLastSeq, isEnded, heartbeatMs, onEvent, onConnection, pollUrl }) {
  let source = null;
  let attempt = 0;
  let retryTimer = null;
  let watchdogTimer = null;
  let firstPingTimer = null; // the deadlines of streamVerdict: after the request,
  let answerPingTimer = null; // and after the answer
  let stopped = false;
  let attempts = []; // the recent stream connections, for streamVerdict
  let polling = false; // the stream was found unusable: the run is followed by long polling
  let poller = null; // the running poll loop, while polling and online
  let probe = null;
  let probeTimer = null;
  let failedProbes = 0;
  let backDetail = null; // set when a probe succeeded: the next "live" says we switched back

  const report = (state, extra = {}) => onConnection({ state, attempt, ...extra });

  function clearTimers() {
    clearTimeout(retryTimer);
    clearTimeout(watchdogTimer);
    clearTimeout(firstPingTimer);
    clearTimeout(answerPingTimer);
    retryTimer = watchdogTimer = firstPingTimer = answerPingTimer = null;
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
    const current = attempts[attempts.length - 1];
    const limitMs = silenceLimitMs(heartbeatMs, Boolean(current && current.firstEventAtMs !== null));
    watchdogTimer = setTimeout(() => {
      if (isEnded()) finish();
      else if (!fellBack()) reconnectNow("no heartbeat");
    }, limitMs);
  }

  // A ping or log event arrived; false when it showed the stream buffered (now polling).
  function sawEvent(progressed) {
    const current = attempts[attempts.length - 1];
    if (current.firstEventAtMs === null) {
      current.firstEventAtMs = Date.now();
      if (fellBack()) return false; // the first ping came late: let through by a filling buffer
    }
    if (progressed) current.progressed = true;
    armWatchdog();
    return true;
  }

  // True when the stream was found unusable and following went over to long polling.
  function fellBack() {
    const verdict = streamVerdict(attempts, Date.now());
    if (!verdict.unusable) return false;
    startPolling(verdict.detail);
    return true;
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
    attempts = [...attempts.slice(-(QUICK_CLOSES_TO_FALL_BACK - 1)), newAttempt(Date.now())];
    armWatchdog();
    const checkVerdict = () => es === source && fellBack();
    clearTimeout(firstPingTimer);
    firstPingTimer = setTimeout(checkVerdict, FIRST_PING_REQUEST_DEADLINE_MS);
    es.onopen = () => {
      attempt = 0;
      attempts[attempts.length - 1].answeredAtMs = Date.now();
      armWatchdog();
      clearTimeout(answerPingTimer);
      answerPingTimer = setTimeout(checkVerdict, FIRST_PING_DEADLINE_MS);
      report("live", backDetail ? { detail: backDetail } : {});
      backDetail = null;
    };
    es.addEventListener("ping", () => es === source && sawEvent(false));
    for (const kind of EVENT_KINDS) {
      es.addEventListener(kind, (message) => {
        if (es !== source || !sawEvent(false)) return; // polling now: the poll applies this event, once
        let data;
        try {
          data = JSON.parse(message.data);
        } catch {
          return reconnectNow("a damaged event"); // resume from what was applied
        }
        const outcome = onEvent(kind, data);
        if (outcome === "applied") sawEvent(true);
        if (outcome === "gap") reconnectNow("a gap");
      });
    }
    es.onerror = () => {
      if (stopped || es !== source) return;
      if (isEnded()) return finish(); // the server closed the stream after the run's end
      attempts[attempts.length - 1].closedAtMs = Date.now();
      if (fellBack()) return;
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
    stopPolling();
    clearTimers();
    report("reconnecting", { nextTryAt: Date.now() + delayMs, cause });
    retryTimer = setTimeout(resume, delayMs);
  }

  // Follow again on the transport in use: long polling once fallen back, else the stream.
  function resume() {
    if (polling) startPolling(null);
    else open();
  }

  // detail: why, for the connection log ("event stream buffered: …"); null when polling resumes.
  function startPolling(detail) {
    if (stopped) return;
    closeSource();
    clearTimers();
    stopPolling();
    if (typeof navigator !== "undefined" && navigator.onLine === false) {
      polling = true;
      report("offline");
      return;
    }
    polling = true;
    attempt = 0;
    report("polling", detail ? { detail } : {});
    poller = followByPolling({
      url: pollUrl || pollUrlFor(url),
      getLastSeq,
      isEnded,
      onEvent,
      onConnection: (state, extra) => {
        attempt = extra.attempt ?? 0;
        report(state, extra);
      },
      onFinished: finish,
    });
    scheduleProbe();
  }

  function stopPolling() {
    if (poller) poller.close();
    poller = null;
    stopProbe();
  }

  function scheduleProbe() {
    clearTimeout(probeTimer);
    probeTimer = setTimeout(startProbe, probeDelayMs(failedProbes));
  }

  function stopProbe() {
    clearTimeout(probeTimer);
    probeTimer = null;
    if (probe) probe.close();
    probe = null;
  }

  // An event stream in the background, applying nothing: it only has to bring its first ping
  // promptly after being answered (the same rule as streamVerdict's).
  function startProbe() {
    if (stopped || !polling) return;
    const es = new EventSource(urlAfter(url, getLastSeq()));
    const record = newAttempt(Date.now());
    probe = es;
    const failed = () => {
      if (probe !== es) return;
      clearTimeout(giveUp);
      failedProbes += 1;
      stopProbe();
      scheduleProbe();
    };
    const giveUp = setTimeout(failed, FIRST_PING_REQUEST_DEADLINE_MS);
    es.onopen = () => {
      record.answeredAtMs = Date.now();
    };
    es.addEventListener("ping", () => {
      if (probe !== es || record.firstEventAtMs !== null) return;
      record.firstEventAtMs = Date.now();
      if (record.answeredAtMs === null) record.answeredAtMs = record.firstEventAtMs;
      if (streamVerdict([record], record.firstEventAtMs).unusable) return failed();
      clearTimeout(giveUp);
      switchBack();
    });
    es.onerror = () => {
      if (es.readyState === EventSource.CLOSED) failed();
    };
  }

  function switchBack() {
    stopPolling();
    polling = false;
    attempts = [];
    backDetail = "event stream works again; back to streaming";
    open();
  }

  function finish() {
    teardown();
    report("closed");
  }

  function teardown() {
    stopped = true;
    clearTimers();
    closeSource();
    stopPolling();
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
    stopPolling();
    clearTimers();
    report("offline");
  };
  // Shown again (tab switch, back/forward cache, a frozen background tab resumed): a stream
  // that is not open is reopened at once instead of waiting for a backoff timer. (A poller
  // keeps its own timers; it is restarted only by coming back online.)
  const onShown = () => {
    if (polling && poller) return;
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
