// The browser's connection log: batching, bounds, what each connection change records, and
// how the timeline reads.
import test from "node:test";
import assert from "node:assert/strict";
import {
  BATCH_MAX, FLUSH_DELAY_MS, MAX_KEPT, connectionEvent, createConnectionLog, withBrowserSide,
} from "../../assets/connection_log.js";
import { describeEntry, formatClock, formatOffset } from "../../assets/timeline_format.js";

function fakeTimers() {
  const timers = new Map();
  let next = 1;
  return {
    schedule: (fn, ms) => {
      timers.set(next, { fn, ms });
      return next++;
    },
    cancel: (id) => timers.delete(id),
    fire: () => {
      const due = [...timers.values()];
      timers.clear();
      due.forEach(({ fn }) => fn());
    },
    pending: () => [...timers.values()].map(({ ms }) => ms),
  };
}

function logWithSpy() {
  const sent = [];
  const timers = fakeTimers();
  const log = createConnectionLog({
    send: (events, options) => sent.push({ events, options }),
    schedule: timers.schedule,
    cancel: timers.cancel,
    now: () => 1000,
  });
  return { log, sent, timers };
}

test("events that happen together go out in one request after the delay", () => {
  const { log, sent, timers } = logWithSpy();
  log.record("offline", { online: false });
  log.record("reconnect", { after_seq: 7, attempt: 1 });
  assert.equal(sent.length, 0);
  assert.deepEqual(timers.pending(), [FLUSH_DELAY_MS]); // one timer, not one per event
  timers.fire();
  assert.deepEqual(sent, [{
    events: [{ kind: "offline", at: 1000, online: false }, { kind: "reconnect", at: 1000, after_seq: 7, attempt: 1 }],
    options: { keepalive: false },
  }]);
  timers.fire();
  assert.equal(sent.length, 1); // nothing twice
});

test("a full batch goes at once, and leaving the page sends the rest with keepalive", () => {
  const { log, sent } = logWithSpy();
  for (let i = 0; i < BATCH_MAX + 3; i++) log.record("online");
  assert.equal(sent.length, 1);
  assert.equal(sent[0].events.length, BATCH_MAX);
  log.flush({ keepalive: true });
  assert.deepEqual(sent.map((s) => [s.events.length, s.options.keepalive]), [[BATCH_MAX, false], [3, true]]);
});

test("the log keeps the most recent events for the report, bounded", () => {
  const { log } = logWithSpy();
  for (let i = 0; i < MAX_KEPT + 10; i++) log.record("reconnect", { after_seq: i });
  const kept = log.events();
  assert.equal(kept.length, MAX_KEPT);
  assert.equal(kept[0].after_seq, 10);
});

test("connection changes become log entries only when something happened", () => {
  const live = { state: "live", attempt: 0 };
  const retrying = { state: "reconnecting", attempt: 1, nextTryAt: 1500, cause: "a closed stream" };
  assert.equal(connectionEvent({ state: "connecting" }, live, 0, 0), null); // the first connection
  assert.deepEqual(connectionEvent(live, retrying, 12, 1000),
    { kind: "reconnect", after_seq: 12, attempt: 1, delay_ms: 500, cause: "a closed stream" });
  assert.equal(connectionEvent(retrying, retrying, 12, 1100), null); // the same try, reported again
  assert.equal(connectionEvent(retrying, { ...retrying, attempt: 2 }, 12, 1100).attempt, 2);
  assert.deepEqual(connectionEvent(retrying, live, 12, 2000), { kind: "connected", after_seq: 12 });
  assert.deepEqual(connectionEvent(live, { state: "offline", attempt: 0 }, 12, 0), { kind: "offline", online: false });
});

test("the copied report adds the browser's side to the server's", () => {
  const full = withBrowserSide({ report: "unbroken-support-report", run: { state: "complete" } },
    { events: [{ kind: "offline" }], userAgent: "UA", online: true, nowIso: "2026-01-01T00:00:00Z" });
  assert.equal(full.run.state, "complete");
  assert.deepEqual(full.browser,
    { user_agent: "UA", online_now: true, copied_at: "2026-01-01T00:00:00Z", connection_events: [{ kind: "offline" }] });
});

test("timeline entries read as sentences", () => {
  assert.equal(describeEntry({ kind: "request", provider: "demo", model: "demo" }), "Request sent to demo, model demo");
  assert.equal(
    describeEntry({ kind: "attempt_end", attempt: 1, outcome: "rate_limited", status: 429, error: "slow down", wait_s: 1 }),
    "Attempt 1 failed, rate_limited (HTTP 429): slow down; next try after 1.0 s",
  );
  assert.equal(describeEntry({ kind: "attempt", attempt: 3, continued_from_chars: 400 }),
    "Attempt 3: continuing after 400 characters");
  assert.equal(describeEntry({ kind: "attempt", attempt: 3, transport: "plain", fallback: "its streams failed" }),
    "Attempt 3 started, without streaming (its streams failed)");
  assert.equal(describeEntry({ kind: "stream_open", after_seq: 0 }), "Event stream opened");
  assert.equal(describeEntry({ kind: "stream_open", after_seq: 9 }), "Event stream reopened, resuming after event 9");
  assert.equal(describeEntry({ kind: "stream_close", closed_by: "chaos", events: 4, bytes: 300 }),
    "Event stream closed by chaos mode (4 events, 300 bytes)");
  assert.equal(describeEntry({ kind: "reconnect", after_seq: 9, attempt: 1, cause: "a closed stream" }),
    "Browser reconnecting after a closed stream, resuming after event 9 (try 1)");
  assert.equal(describeEntry({ kind: "end", state: "complete", detail: "" }), "Ended: complete");
  assert.equal(describeEntry({ kind: "something_new" }), "something_new");
});

test("times read relative and absolute", () => {
  assert.equal(formatOffset(1234), "+1.234 s");
  assert.equal(formatOffset(-5), "−0.005 s");
  assert.match(formatClock("2026-11-24T10:02:03.045Z"), /^\d\d:02:03\.045$/);
  assert.equal(formatClock("not a time"), "");
});
