// The long-poll loop against a scripted fetch: each seq applied once, stop after the end.
import test from "node:test";
import assert from "node:assert/strict";
import { followByPolling } from "../../assets/poll_client.js";
import { applyEvent, initialModel, isEnded } from "../../assets/stream_apply.js";

const ev = (seq, event, data) => ({ seq, event, data: { seq, ...data } });

function scriptedFetch(answers, asked) {
  return async (url) => {
    asked.push(url);
    const next = answers.shift();
    if (next instanceof Error) throw next;
    return { ok: true, status: 200, json: async () => next };
  };
}

test("polls after the last applied seq, applies each seq once and stops after the end", async () => {
  const asked = [];
  const answers = [
    { state: "streaming", events: [ev(1, "delta", { text: "a" }), ev(2, "delta", { text: "b" })] },
    { state: "streaming", events: [ev(2, "delta", { text: "b" }), ev(3, "delta", { text: "c" })] }, // a repeat
    { state: "complete", events: [ev(4, "end", { state: "complete" })] },
    { state: "complete", events: [] },
  ];
  globalThis.fetch = scriptedFetch(answers, asked);
  let model = initialModel();
  const states = [];
  await new Promise((resolve) => {
    followByPolling({
      url: "/api/runs/r/poll",
      getLastSeq: () => model.lastSeq,
      isEnded: () => isEnded(model),
      onEvent: (kind, data) => {
        const result = applyEvent(model, kind, data);
        model = result.model;
        return result.outcome;
      },
      onConnection: (state) => states.push(state),
      onFinished: resolve,
    });
  });
  assert.equal(model.text, "abc");
  assert.equal(model.runState, "complete");
  assert.deepEqual(asked, ["/api/runs/r/poll?after=0", "/api/runs/r/poll?after=2", "/api/runs/r/poll?after=3",
                           "/api/runs/r/poll?after=4"]);
  assert.deepEqual(states, []);
});

test("a failed poll reports reconnecting, and the next success reports polling again", async () => {
  const asked = [];
  globalThis.fetch = scriptedFetch([new Error("network"), { state: "complete", events: [ev(1, "end", { state: "complete" })] },
                                    { state: "complete", events: [] }], asked);
  let model = initialModel();
  const states = [];
  await new Promise((resolve) => {
    followByPolling({
      url: "/p",
      getLastSeq: () => model.lastSeq,
      isEnded: () => isEnded(model),
      onEvent: (kind, data) => {
        const result = applyEvent(model, kind, data);
        model = result.model;
        return result.outcome;
      },
      onConnection: (state, extra) => states.push([state, extra.cause]),
      onFinished: resolve,
    });
  });
  assert.deepEqual(states, [["reconnecting", "a failed poll"], ["polling", undefined]]);
  assert.equal(asked.length, 3);
});
