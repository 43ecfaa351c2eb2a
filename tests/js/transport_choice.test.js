// When the page gives up on the event stream and long-polls instead, and how it polls.
import test from "node:test";
import assert from "node:assert/strict";
import {
  FIRST_PING_DEADLINE_MS, FIRST_PING_REQUEST_DEADLINE_MS, POLL_MIN_SPACING_MS, PROBE_FIRST_DELAY_MS, PROBE_MAX_DELAY_MS, QUICK_CLOSE_MS,
  newAttempt, pollDelayMs, pollUrlFor, pollingFinished, probeDelayMs, silenceLimitMs, streamVerdict,
} from "../../assets/transport_choice.js";
import { TERMINAL_STATES, connectionLabel } from "../../assets/stream_apply.js";
import { connectionEvent } from "../../assets/connection_log.js";

const answered = (openedAtMs, extra = {}) => ({ ...newAttempt(openedAtMs), answeredAtMs: openedAtMs + 50, ...extra });

test("an answered stream with no ping by the deadline is buffered", () => {
  const attempts = [answered(0)]; // answered at 50 ms
  assert.deepEqual(streamVerdict(attempts, 50 + FIRST_PING_DEADLINE_MS - 1), { unusable: false });
  const verdict = streamVerdict(attempts, 50 + FIRST_PING_DEADLINE_MS);
  assert.equal(verdict.unusable, true);
  assert.equal(verdict.detail, "event stream buffered: no prompt heartbeat; long polling");
});

test("a first ping let through late, by a filling buffer, also means buffered", () => {
  const late = answered(0, { firstEventAtMs: 50 + FIRST_PING_DEADLINE_MS });
  assert.equal(streamVerdict([late], 50 + FIRST_PING_DEADLINE_MS).unusable, true);
  const prompt = answered(0, { firstEventAtMs: 50 + FIRST_PING_DEADLINE_MS - 1 });
  assert.equal(streamVerdict([prompt], 60_000).unusable, false);
});

test("three quick closes in a row without a log event make the stream unusable", () => {
  const quick = (t) => answered(t, { firstEventAtMs: t + 60, closedAtMs: t + 50 + QUICK_CLOSE_MS });
  assert.equal(streamVerdict([quick(0), quick(5000)], 6000).unusable, false);
  const verdict = streamVerdict([quick(0), quick(5000), quick(10_000)], 13_000);
  assert.equal(verdict.unusable, true);
  assert.match(verdict.detail, /closed right after opening 3 times/);
});

test("closes after progress, late closes and failed opens do not count as quick closes", () => {
  const quick = (t) => answered(t, { closedAtMs: t + 500 });
  const progressed = { ...quick(10_000), progressed: true };
  const late = answered(10_000, { closedAtMs: 10_050 + QUICK_CLOSE_MS + 1 });
  const refused = { ...newAttempt(10_000), closedAtMs: 10_010 };
  for (const last of [progressed, late, refused]) {
    assert.equal(streamVerdict([quick(0), quick(5000), last], 20_000).unusable, false);
  }
});

test("before its first event a stream gets at least the first-ping deadline", () => {
  assert.equal(silenceLimitMs(1000, false), FIRST_PING_REQUEST_DEADLINE_MS);
  assert.equal(silenceLimitMs(1000, true), 2000);
  assert.equal(silenceLimitMs(15_000, false), 30_000);
});

test("probes of the event stream are spaced further after each failure, up to a cap", () => {
  assert.equal(probeDelayMs(0), PROBE_FIRST_DELAY_MS);
  assert.equal(probeDelayMs(1), PROBE_FIRST_DELAY_MS * 2);
  assert.equal(probeDelayMs(50), PROBE_MAX_DELAY_MS);
});

test("empty polls are spaced; polls that brought events follow at once", () => {
  assert.equal(pollDelayMs(10, 3), 0);
  assert.equal(pollDelayMs(200, 0), POLL_MIN_SPACING_MS - 200);
  assert.equal(pollDelayMs(25_000, 0), 0);
});

test("polling ends only after a poll with nothing new, once the end was applied and the run is terminal", () => {
  const base = { eventCount: 0, endedHere: true, serverState: "complete", terminalStates: TERMINAL_STATES };
  assert.equal(pollingFinished(base), true);
  assert.equal(pollingFinished({ ...base, eventCount: 1 }), false); // ask once more: a continuation may follow
  assert.equal(pollingFinished({ ...base, endedHere: false }), false);
  assert.equal(pollingFinished({ ...base, serverState: "continuing" }), false);
});

test("the poll URL is the events URL's sibling", () => {
  assert.equal(pollUrlFor("/api/runs/r1/events"), "/api/runs/r1/poll");
  assert.equal(pollUrlFor("https://x.test/api/runs/r1/events?k=1"), "https://x.test/api/runs/r1/poll?k=1");
});

test("the message says when it is in slow connection mode", () => {
  assert.equal(connectionLabel({ state: "polling", attempt: 0 }, 0), "Slow connection mode");
});

test("switching transport records a fallback event each way, and only on the switch", () => {
  const detail = "event stream buffered: no prompt heartbeat; long polling";
  assert.deepEqual(connectionEvent({ state: "live" }, { state: "polling", attempt: 0, detail }, 7, 0),
                   { kind: "fallback", after_seq: 7, detail });
  const back = "event stream works again; back to streaming";
  assert.deepEqual(connectionEvent({ state: "polling" }, { state: "live", attempt: 0, detail: back }, 9, 0),
                   { kind: "fallback", after_seq: 9, detail: back });
  assert.equal(connectionEvent({ state: "polling" }, { state: "polling", attempt: 0 }, 9, 0), null);
  assert.deepEqual(connectionEvent({ state: "reconnecting" }, { state: "polling", attempt: 0 }, 9, 0),
                   { kind: "connected", after_seq: 9 });
});
