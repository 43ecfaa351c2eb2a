// Following a run by long polling: the fallback transport for paths that break event streams.
//
// `GET {url}?after=<last applied seq>` answers `{"state", "events": [{"seq", "event", "data"}]}`
// (design.md), at once when there is something new, else after up to 25 s. Each event goes
// through the caller's onEvent — the same exactly-once apply by seq as the event stream, so
// switching transports can neither repeat nor skip an event. Errors back off with full jitter.
// I/O only: when to stop and how long to wait are decided in transport_choice.js.

import { TERMINAL_STATES, backoffDelayMs, urlAfter } from "./stream_apply.js";
import { pollDelayMs, pollingFinished } from "./transport_choice.js";

export const POLL_TIMEOUT_MS = 40_000; // the server holds a poll up to 25 s; past this the request is dead

// onConnection(state, extra): "polling" once a poll succeeded (again), "reconnecting" with
// { attempt, nextTryAt, cause } after a failed one. onFinished(): the run has ended.
export function followByPolling({ url, getLastSeq, isEnded, onEvent, onConnection, onFinished }) {
  let stopped = false;
  let attempt = 0;
  let controller = null;
  let timer = null;

  function schedule(delayMs) {
    if (!stopped) timer = setTimeout(pollOnce, delayMs);
  }

  async function pollOnce() {
    timer = null;
    const startedAt = Date.now();
    let body;
    try {
      body = await fetchJson(urlAfter(url, getLastSeq()));
    } catch {
      if (stopped) return;
      attempt += 1;
      const delayMs = backoffDelayMs(attempt);
      onConnection("reconnecting", { attempt, nextTryAt: Date.now() + delayMs, cause: "a failed poll" });
      return schedule(delayMs);
    }
    if (stopped) return;
    if (attempt > 0) {
      attempt = 0;
      onConnection("polling", {});
    }
    const events = Array.isArray(body.events) ? body.events : [];
    for (const event of events) {
      if (onEvent(event.event, event.data) === "gap") break; // the next poll asks from the last applied seq
    }
    if (pollingFinished({ eventCount: events.length, endedHere: isEnded(), serverState: body.state,
                          terminalStates: TERMINAL_STATES })) {
      stop();
      return onFinished();
    }
    schedule(pollDelayMs(Date.now() - startedAt, events.length));
  }

  async function fetchJson(pollUrl) {
    controller = new AbortController();
    const timeout = setTimeout(() => controller.abort(), POLL_TIMEOUT_MS);
    try {
      const response = await fetch(pollUrl, { signal: controller.signal, cache: "no-store" });
      if (!response.ok) throw new Error(`poll answered ${response.status}`);
      return await response.json();
    } finally {
      clearTimeout(timeout);
    }
  }

  function stop() {
    stopped = true;
    clearTimeout(timer);
    if (controller) controller.abort();
  }

  pollOnce();
  return { close: stop };
}
