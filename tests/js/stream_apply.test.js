// Pure browser-side logic: exactly-once apply by seq, gap detection, backoff, labels.
import test from "node:test";
import assert from "node:assert/strict";
import {
  applyEvent,
  backoffDelayMs,
  connectionLabel,
  initialModel,
  isEnded,
  retryLabel,
  tokenEstimate,
  tokenLabel,
  urlAfter,
} from "../../assets/stream_apply.js";

const delta = (seq, text) => ["delta", { seq, text }];

test("each seq is applied once, in order", () => {
  let model = initialModel();
  const outcomes = [];
  for (const [kind, data] of [delta(1, "a"), delta(2, "b"), delta(2, "b"), delta(1, "a"), delta(3, "c")]) {
    const result = applyEvent(model, kind, data);
    model = result.model;
    outcomes.push(result.outcome);
  }
  assert.deepEqual(outcomes, ["applied", "applied", "duplicate", "duplicate", "applied"]);
  assert.equal(model.text, "abc");
  assert.equal(model.lastSeq, 3);
});

test("an event past a gap is never applied", () => {
  const model = applyEvent(initialModel(), ...delta(1, "a")).model;
  const result = applyEvent(model, ...delta(3, "c"));
  assert.equal(result.outcome, "gap");
  assert.equal(result.model, model);
});

test("status and end events move the run state", () => {
  let model = initialModel();
  model = applyEvent(model, "status", { seq: 1, state: "retrying", attempt: 2, max_attempts: 5,
                                         retry_at: "2026-01-01T00:00:00Z", detail: "rate limited" }).model;
  assert.equal(model.runState, "retrying");
  assert.equal(model.attempt, 2);
  assert.equal(isEnded(model), false);
  model = applyEvent(model, "end", { seq: 2, state: "stopped", detail: "Stopped" }).model;
  assert.equal(model.runState, "stopped");
  assert.equal(isEnded(model), true);
});

test("malformed events are duplicates, not crashes", () => {
  const model = initialModel();
  assert.equal(applyEvent(model, "delta", {}).outcome, "duplicate");
  assert.equal(applyEvent(model, "delta", null).outcome, "duplicate");
  assert.equal(applyEvent(model, "delta", { seq: "1", text: "x" }).outcome, "duplicate");
});

test("backoff uses full jitter under a growing, capped ceiling", () => {
  assert.equal(backoffDelayMs(0, { random: () => 1 }), 500);
  assert.equal(backoffDelayMs(3, { random: () => 1 }), 4000);
  assert.equal(backoffDelayMs(30, { random: () => 1 }), 15000);
  assert.equal(backoffDelayMs(5, { random: () => 0 }), 0);
});

test("resume URLs carry the last applied seq", () => {
  assert.equal(urlAfter("/api/runs/r/events", 7), "/api/runs/r/events?after=7");
  assert.equal(urlAfter("/x?a=1", 0), "/x?a=1&after=0");
});

test("the reconnect label counts down to the next try", () => {
  const label = connectionLabel({ state: "reconnecting", attempt: 3, nextTryAt: 10_000 }, 6_200);
  assert.equal(label, "Reconnecting… (attempt 3, next try in 4 s)");
  assert.equal(connectionLabel({ state: "live", attempt: 0 }, 0), "");
  assert.match(connectionLabel({ state: "offline", attempt: 0 }, 0), /Offline/);
});

test("a retrying run counts down to retry_at", () => {
  const model = { ...initialModel(), runState: "retrying", retryAt: "2026-01-01T00:00:12.000Z", attempt: 2, maxAttempts: 6 };
  assert.equal(retryLabel(model, Date.parse("2026-01-01T00:00:00.500Z")), "Retrying in 12 s (attempt 2 of 6)");
  assert.equal(retryLabel({ ...model, runState: "streaming" }, 0), "");
});

test("the token count is estimated from the text until an end event brings the server's", () => {
  let model = initialModel();
  assert.equal(tokenLabel(model), "");
  model = applyEvent(model, "delta", { seq: 1, text: "Hello" }).model;
  assert.equal(tokenLabel(model), "2 tokens"); // 5 characters, 4 a token, rounded up
  model = applyEvent(model, "end", { seq: 2, state: "truncated", detail: "", tokens: 7 }).model;
  assert.equal(tokenLabel(model), "7 tokens");
  model = applyEvent(model, "delta", { seq: 3, text: "!" }).model; // a Continue goes on
  assert.equal(tokenLabel(model), "2 tokens");
  assert.equal(tokenEstimate("abcd"), 1);
});
