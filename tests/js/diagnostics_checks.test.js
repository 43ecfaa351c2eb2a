// What the diagnostics page concludes: buffering, heartbeats, connections, idle timeout.
import test from "node:test";
import assert from "node:assert/strict";
import {
  DEFAULT_IDLE_STEPS_S,
  heldPairs,
  idleSteps,
  judgeBuffering,
  judgeConnections,
  judgeHeartbeat,
  judgeIdle,
} from "../../assets/diagnostics_checks.js";

// Ticks sent every `everyMs`, arriving at `arrive(n)` ms.
const ticks = (count, everyMs, arrive) =>
  Array.from({ length: count }, (_, i) => ({ n: i + 1, serverMs: (i + 1) * everyMs, arrivedMs: arrive(i + 1) }));

test("ticks that arrive as they were sent, however late, stream live", () => {
  const verdict = judgeBuffering({ ticks: ticks(10, 250, (n) => 900 + n * 250 + (n % 3) * 20), expected: 10 });
  assert.equal(verdict.result, "ok");
  assert.match(verdict.summary, /^Streams live: 10 events sent over 2\.3 s arrived over 2\.3 s/);
});

test("ticks sent over seconds that arrive within milliseconds are buffered, and the advice names the fix", () => {
  const verdict = judgeBuffering({ ticks: ticks(10, 250, (n) => 2600 + n), expected: 10 });
  assert.equal(verdict.result, "fail");
  assert.match(verdict.summary, /^Buffered: 10 events sent over 2\.3 s arrived in a burst within 9 ms/);
  assert.match(verdict.advice, /proxy_buffering off/);
  assert.match(verdict.advice, /X-Accel-Buffering: no/);
});

test("a proxy that flushes every few events is buffered too", () => {
  // Flushes after every 4th tick: 3 of 4 pairs arrive together.
  const verdict = judgeBuffering({ ticks: ticks(12, 250, (n) => Math.ceil(n / 4) * 1000 + n), expected: 12 });
  assert.equal(verdict.result, "fail");
});

test("a few bunched pairs on a busy network are a warning, not a failure", () => {
  const arrive = (n) => n * 250 + ([3, 7].includes(n) ? 240 : 0); // ticks 3 and 7 late, with the next
  const { held, pairs } = heldPairs(ticks(10, 250, arrive));
  assert.deepEqual({ held, pairs }, { held: 2, pairs: 9 });
  assert.equal(judgeBuffering({ ticks: ticks(10, 250, arrive), expected: 10 }).result, "warn");
});

test("a stream that never delivered fails, saying why", () => {
  const verdict = judgeBuffering({ ticks: [], expected: 10, error: "the connection was refused" });
  assert.equal(verdict.result, "fail");
  assert.match(verdict.summary, /0 of 10 events; the connection was refused/);
});

test("a live stream cut halfway warns that it broke", () => {
  const verdict = judgeBuffering({ ticks: ticks(5, 250, (n) => n * 250), expected: 10, error: "connection lost" });
  assert.equal(verdict.result, "warn");
  assert.match(verdict.summary, /broke after 5 of 10 events \(connection lost\)/);
});

test("events the server sent together tell nothing and are not counted as held", () => {
  const together = [
    { n: 1, serverMs: 100, arrivedMs: 5 },
    { n: 2, serverMs: 100, arrivedMs: 6 },
    { n: 3, serverMs: 400, arrivedMs: 300 },
  ];
  assert.deepEqual(heldPairs(together), { held: 0, pairs: 1 });
});

const pings = (arrivals, everyMs) => arrivals.map((arrivedMs, n) => ({ n, serverMs: n * everyMs, arrivedMs }));

test("heartbeats that arrive an interval apart are fine", () => {
  const verdict = judgeHeartbeat({ pings: pings([40, 1050, 2030], 1000), expected: 2, intervalMs: 1000 });
  assert.equal(verdict.result, "ok");
  assert.match(verdict.summary, /every 1\.0 s/);
});

test("heartbeats that arrive together were held back", () => {
  const verdict = judgeHeartbeat({ pings: pings([2001, 2002, 2003], 1000), expected: 2, intervalMs: 1000 });
  assert.equal(verdict.result, "fail");
  assert.match(verdict.summary, /arrived together/);
});

test("no heartbeat at all fails; a missing or late one warns", () => {
  assert.equal(judgeHeartbeat({ pings: pings([30], 15000), expected: 1, intervalMs: 15000 }).result, "fail");
  assert.equal(judgeHeartbeat({ pings: pings([30, 15040], 15000), expected: 2, intervalMs: 15000 }).result, "warn");
  const late = judgeHeartbeat({ pings: pings([30, 15040, 40000], 15000), expected: 2, intervalMs: 15000 });
  assert.equal(late.result, "warn");
  assert.match(late.summary, /longest wait between them was 25 s/);
});

test("connections: a few open streams are fine, four or more warn about the per-site limit", () => {
  assert.equal(judgeConnections({ openStreams: 0 }).result, "ok");
  assert.match(judgeConnections({ openStreams: 0 }).summary, /^No event streams are open from your address besides this page/);
  assert.match(judgeConnections({ openStreams: 1 }).summary, /^1 event stream is open/);
  const busy = judgeConnections({ openStreams: 4 });
  assert.equal(busy.result, "warn");
  assert.match(busy.summary, /^4 event streams are already open/);
  assert.match(busy.advice, /about 6 connections/);
  assert.match(busy.advice, /HTTP\/2/);
});

test("idle: not measured yet is null; everything survived is ok", () => {
  assert.equal(judgeIdle({ results: [], heartbeatMs: 15000 }), null);
  const all = judgeIdle({ results: [5, 15, 30].map((seconds) => ({ seconds, survived: true })), heartbeatMs: 15000 });
  assert.equal(all.result, "ok");
  assert.match(all.summary, /at least 30 s/);
});

test("idle: a cut sooner than the heartbeat fails, naming the timeout to raise", () => {
  const verdict = judgeIdle({
    results: [{ seconds: 5, survived: true }, { seconds: 15, survived: false }],
    heartbeatMs: 15000,
  });
  assert.equal(verdict.result, "fail");
  assert.match(verdict.summary, /between 5 and 15 s/);
  assert.match(verdict.advice, /proxy_read_timeout/);
  assert.match(verdict.advice, /UNBROKEN_HEARTBEAT_S/);
});

test("idle: a cut just past the heartbeat warns; one well past it is fine", () => {
  const cutAt = (survived, cut) => [
    ...survived.map((seconds) => ({ seconds, survived: true })),
    { seconds: cut, survived: false },
  ];
  assert.equal(judgeIdle({ results: cutAt([5, 15], 30), heartbeatMs: 15000 }).result, "warn");
  assert.equal(judgeIdle({ results: cutAt([5, 15, 30, 60], 90), heartbeatMs: 15000 }).result, "ok");
});

test("idle steps come from ?idle_steps= when valid, else the defaults", () => {
  assert.deepEqual(idleSteps(""), DEFAULT_IDLE_STEPS_S);
  assert.deepEqual(idleSteps("?idle_steps=1,2"), [1, 2]);
  assert.deepEqual(idleSteps("?idle_steps=1,500"), DEFAULT_IDLE_STEPS_S);
  assert.deepEqual(idleSteps("?idle_steps=abc"), DEFAULT_IDLE_STEPS_S);
});
