// What the diagnostics page concludes from what it measured. Pure: numbers in, verdicts out;
// the measuring is in diagnostics_probe.js. A verdict is { result, summary, advice } with
// result "ok", "warn" or "fail"; summary says what was seen, advice what to do about it.
//
// The buffering rule compares, for each pair of consecutive ticks, the gap between their
// arrivals with the gap between their sends (the server stamps each with server_ms). A pair
// is "held" when it arrived in under a quarter of the time it was sent in: something kept
// the first back until the second came. A buffering proxy holds nearly every pair (all the
// ticks come in one burst); a live path holds almost none, whatever its latency.

export const HELD_SHARE_OF_SEND_GAP = 0.25;
export const BUFFERED_WHEN_HELD = 0.5; // at least half the pairs held: buffered (fail)
export const BURSTY_WHEN_HELD = 0.2; // at least a fifth: bursty (warn)
export const LATE_HEARTBEAT_FACTOR = 1.5; // a heartbeat gap past 1.5 intervals (+ slack) is late
export const LATE_HEARTBEAT_SLACK_MS = 500;
export const PER_ORIGIN_LIMIT = 6; // HTTP/1.1 connections a browser opens to one site
export const BUSY_ORIGIN_STREAMS = 4; // already open: with this page's own, the limit is near
export const DEFAULT_IDLE_STEPS_S = [5, 15, 30, 60, 90];
export const MAX_IDLE_STEP_S = 120;

const BUFFERING_ADVICE =
  "A proxy between this browser and Unbroken is buffering the event stream, so answers arrive " +
  "in bursts and heartbeats arrive late (the page may think the connection died). Set " +
  "`proxy_buffering off` for Unbroken (nginx; keep `proxy_http_version 1.1`) or let the proxy " +
  "honour the app's `X-Accel-Buffering: no` header; `deploy/nginx/unbroken.conf` is a working example.";

const seconds = (ms) => (ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(ms < 10000 ? 1 : 0)} s`);

/** Pairs of consecutive events (by arrival) whose arrival gap is under a quarter of their send gap. */
export function heldPairs(events) {
  const sorted = [...events].sort((a, b) => a.arrivedMs - b.arrivedMs);
  let held = 0;
  let pairs = 0;
  for (let i = 1; i < sorted.length; i += 1) {
    const sendGapMs = sorted[i].serverMs - sorted[i - 1].serverMs;
    if (sendGapMs <= 0) continue; // sent together: tells nothing about the path
    pairs += 1;
    if (sorted[i].arrivedMs - sorted[i - 1].arrivedMs < sendGapMs * HELD_SHARE_OF_SEND_GAP) held += 1;
  }
  return { held, pairs };
}

const spreadMs = (events, key) =>
  events.length ? Math.max(...events.map((e) => e[key])) - Math.min(...events.map((e) => e[key])) : 0;

/**
 * The buffering check. `ticks`: [{ n, serverMs, arrivedMs }]; `expected`: how many were sent;
 * `error`: why the stream ended early, or null.
 */
export function judgeBuffering({ ticks, expected, error = null }) {
  if (ticks.length < 2) {
    return {
      result: "fail",
      summary: `The test event stream did not arrive (${ticks.length} of ${expected} events${error ? `; ${error}` : ""}).`,
      advice:
        "Something between this browser and Unbroken blocks or cuts event streams (text/event-stream). " +
        "Check the proxy's or firewall's logs; answers can still arrive through the page's fallback, but later.",
    };
  }
  const { held, pairs } = heldPairs(ticks);
  const sent = seconds(spreadMs(ticks, "serverMs"));
  const arrived = seconds(spreadMs(ticks, "arrivedMs"));
  const broke = ticks.length < expected ? `the stream broke after ${ticks.length} of ${expected} events` : "";
  const alsoBroke = broke ? ` Then ${broke}.` : "";
  if (pairs > 0 && held / pairs >= BUFFERED_WHEN_HELD) {
    return {
      result: "fail",
      summary: `Buffered: ${ticks.length} events sent over ${sent} arrived in a burst within ${arrived}.${alsoBroke}`,
      advice: BUFFERING_ADVICE,
    };
  }
  if (pairs > 0 && held / pairs >= BURSTY_WHEN_HELD) {
    return {
      result: "warn",
      summary: `Partly buffered: ${held} of ${pairs} events arrived bunched with the next.${alsoBroke}`,
      advice: `A busy network does this now and then. If it stays: ${BUFFERING_ADVICE}`,
    };
  }
  if (broke) {
    return {
      result: "warn",
      summary: `Events arrive as they are sent, but ${broke}${error ? ` (${error})` : ""}.`,
      advice: "Something cut the stream early; the page reconnects by itself, but check the proxy's timeouts.",
    };
  }
  return {
    result: "ok",
    summary: `Streams live: ${ticks.length} events sent over ${sent} arrived over ${arrived}, as they were sent.`,
    advice: "Nothing to do.",
  };
}

/**
 * The heartbeat check. `pings`: [{ n, serverMs, arrivedMs }], n = 0 the opening ping and
 * 1, 2 … the heartbeats; `expected`: heartbeats the server sends; `intervalMs`: its interval.
 */
export function judgeHeartbeat({ pings, expected, intervalMs, error = null }) {
  const beats = pings.filter((p) => p.n >= 1);
  const every = seconds(intervalMs);
  if (beats.length === 0) {
    return {
      result: "fail",
      summary: `No heartbeat arrived (the server sends one every ${every})${error ? `; ${error}` : ""}.`,
      advice:
        "Without heartbeats the page takes a quiet stream for a dead one and reconnects. Something " +
        "drops or holds back event-stream data: check for a buffering proxy or one that strips events.",
    };
  }
  const { held, pairs } = heldPairs(pings);
  if (pairs > 0 && held / pairs >= BUFFERED_WHEN_HELD) {
    return {
      result: "fail",
      summary: `Heartbeats sent ${every} apart arrived together, late.`,
      advice: "They were held back with the rest of the stream: see the buffering advice above.",
    };
  }
  const sorted = [...pings].sort((a, b) => a.arrivedMs - b.arrivedMs);
  let longestGapMs = 0;
  for (let i = 1; i < sorted.length; i += 1) {
    longestGapMs = Math.max(longestGapMs, sorted[i].arrivedMs - sorted[i - 1].arrivedMs);
  }
  if (beats.length < expected || longestGapMs > intervalMs * LATE_HEARTBEAT_FACTOR + LATE_HEARTBEAT_SLACK_MS) {
    return {
      result: "warn",
      summary: `${beats.length} of ${expected} heartbeats arrived; the longest wait between them was ${seconds(longestGapMs)} (interval ${every}).`,
      advice:
        "Heartbeats arrive late or not all of them: the page may reconnect now and then. A slow or " +
        "lossy network does this; so does a proxy that batches small writes.",
    };
  }
  return {
    result: "ok",
    summary: `Heartbeats arrive every ${every}, as they are sent (${beats.length} of ${expected}).`,
    advice: "Nothing to do.",
  };
}

/** The connections check: `openStreams` already open from this browser's address. */
export function judgeConnections({ openStreams }) {
  const limit =
    `Over HTTP/1.1 a browser opens at most about ${PER_ORIGIN_LIMIT} connections to one site, ` +
    "and each answer that is streaming holds one.";
  const what = openStreams === 0 ? "No event streams are" : openStreams === 1 ? "1 event stream is" : `${openStreams} event streams are`;
  if (openStreams >= BUSY_ORIGIN_STREAMS) {
    return {
      result: "warn",
      summary: `${what} already open from your address (other tabs with answers in progress).`,
      advice:
        `${limit} More tabs with running answers will wait for a free one. Close tabs you do not need, ` +
        "or serve Unbroken over HTTP/2 (e.g. nginx with TLS and `http2 on`), which has no such limit.",
    };
  }
  return {
    result: "ok",
    summary: `${what} open from your address besides this page.`,
    advice: `Nothing to do. ${limit} Many tabs with running answers at once can reach that limit.`,
  };
}

/**
 * The idle-timeout check. `results`: [{ seconds, survived }] in the order tried (the probe stops
 * at the first cut); `heartbeatMs`: the server's heartbeat interval. Null before any was tried.
 */
export function judgeIdle({ results, heartbeatMs }) {
  if (!results.length) return null;
  const survived = results.filter((r) => r.survived).map((r) => r.seconds);
  const longest = survived.length ? Math.max(...survived) : 0;
  const cut = results.find((r) => !r.survived);
  const every = seconds(heartbeatMs);
  if (!cut) {
    return {
      result: "ok",
      summary: `Idle connections survive at least ${longest} s (the longest tried).`,
      advice: "Nothing to do.",
    };
  }
  const between = `between ${longest} and ${cut.seconds} s`;
  const fix =
    `Raise the proxy's idle timeout above ${cut.seconds} s (nginx: proxy_read_timeout; load balancers: ` +
    `their idle timeout) or make the heartbeat shorter than ${longest || 1} s (UNBROKEN_HEARTBEAT_S).`;
  if (cut.seconds * 1000 <= heartbeatMs) {
    return {
      result: "fail",
      summary: `The path closes connections idle for ${between}: sooner than the heartbeat (every ${every}).`,
      advice: `Event streams are cut whenever an answer waits, and the page keeps reconnecting. ${fix}`,
    };
  }
  if (longest * 1000 < heartbeatMs * 2) {
    return {
      result: "warn",
      summary: `The path closes connections idle for ${between}: not much longer than the heartbeat (every ${every}).`,
      advice: `One late heartbeat and the stream is cut. ${fix}`,
    };
  }
  return {
    result: "ok",
    summary: `The path closes connections idle for ${between}; the heartbeat every ${every} keeps event streams open.`,
    advice: "Nothing to do for Unbroken; other long requests through this path may be cut.",
  };
}

/** The silences to try, from `?idle_steps=5,15` (whole seconds, 1–120), else the defaults. */
export function idleSteps(search) {
  const raw = new URLSearchParams(search || "").get("idle_steps");
  if (!raw) return DEFAULT_IDLE_STEPS_S;
  const steps = raw.split(",").map((part) => Number(part.trim()));
  const valid = steps.every((s) => Number.isInteger(s) && s >= 1 && s <= MAX_IDLE_STEP_S);
  return valid && steps.length ? steps : DEFAULT_IDLE_STEPS_S;
}
