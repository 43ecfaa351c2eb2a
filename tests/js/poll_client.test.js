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

// Follow a run by polling until it finishes, applying events to a model; returns the model.
function followToTheEnd(url, onConnection) {
  let model = initialModel();
  return new Promise((resolve) => {
    followByPolling({
      url,
      getLastSeq: () => model.lastSeq,
      isEnded: () => isEnded(model),
      onEvent: (kind, data) => {
        const result = applyEvent(model, kind, data);
        model = result.model;
        return result.outcome;
      },
      onConnection,
      onFinished: () => resolve(model),
    });
  });
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
  const states = [];
  const model = await followToTheEnd("/api/runs/r/poll", (state) => states.push(state));
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
  const states = [];
  await followToTheEnd("/p", (state, extra) => states.push([state, extra.cause]));
  assert.deepEqual(states, [["reconnecting", "a failed poll"], ["polling", undefined]]);
  assert.equal(asked.length, 3);
});
