// Coalescing a streaming answer's renders: at most one per interval, state changes at once.
import test from "node:test";
import assert from "node:assert/strict";
import { createRenderPacer } from "../../assets/render_pacer.js";

// A fake clock and timers: advance(ms) fires what is due, in order.
function fakeTime() {
  let now = 0;
  let timers = [];
  return {
    now: () => now,
    setTimer: (fn, ms) => {
      const timer = { at: now + ms, fn };
      timers.push(timer);
      return timer;
    },
    clearTimer: (timer) => {
      timers = timers.filter((t) => t !== timer);
    },
    advance(ms) {
      const until = now + ms;
      for (let due; (due = timers.filter((t) => t.at <= until).sort((a, b) => a.at - b.at)[0]); ) {
        timers = timers.filter((t) => t !== due);
        now = due.at;
        due.fn();
      }
      now = until;
    },
    pending: () => timers.length,
  };
}

function pacerWith(time, intervalMs = 100) {
  const renders = [];
  const pacer = createRenderPacer({ render: () => renders.push(time.now()), intervalMs, ...time });
  return { pacer, renders };
}

test("the first text renders at once, the next after the interval, together", () => {
  const time = fakeTime();
  const { pacer, renders } = pacerWith(time);
  pacer.soon();
  assert.deepEqual(renders, [0]);
  time.advance(30);
  pacer.soon();
  time.advance(30);
  pacer.soon(); // two deltas while waiting: one render
  assert.deepEqual(renders, [0]);
  time.advance(40);
  assert.deepEqual(renders, [0, 100]);
  assert.equal(time.pending(), 0);
});

test("text after a quiet spell renders at once", () => {
  const time = fakeTime();
  const { pacer, renders } = pacerWith(time);
  pacer.soon();
  time.advance(250);
  pacer.soon();
  assert.deepEqual(renders, [0, 250]);
});

test("a steady stream renders once per interval", () => {
  const time = fakeTime();
  const { pacer, renders } = pacerWith(time);
  for (let i = 0; i < 10; i++) {
    pacer.soon();
    time.advance(50); // a delta every 50 ms, as the server commits
  }
  assert.deepEqual(renders, [0, 100, 200, 300, 400, 500]); // the last delta's text at 500
});

test("a state change renders at once, with the text waiting", () => {
  const time = fakeTime();
  const { pacer, renders } = pacerWith(time);
  pacer.soon();
  time.advance(20);
  pacer.soon();
  pacer.now(); // e.g. the end: the last text must not wait for the interval
  assert.deepEqual(renders, [0, 20]);
  assert.equal(time.pending(), 0);
  time.advance(500);
  assert.deepEqual(renders, [0, 20]);
});

test("cancel drops a pending render", () => {
  const time = fakeTime();
  const { pacer, renders } = pacerWith(time);
  pacer.soon();
  pacer.soon();
  pacer.cancel();
  time.advance(500);
  assert.deepEqual(renders, [0]);
});
