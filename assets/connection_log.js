// What a browser saw of its connection to one run: reconnects (with the seq they resume
// after), gaps, offline periods. Kept for the support report, and sent to the server in
// batches, best effort, so the operator sees client-side trouble in the run's timeline too.
// No I/O of its own: the caller passes `send` (and timers, so tests run without waiting).

export const MAX_KEPT = 200; // per run, oldest dropped first
export const BATCH_MAX = 50; // the server takes at most 50 events per report
export const FLUSH_DELAY_MS = 2000; // events that happen together go in one request

export function createConnectionLog({ send, schedule = setTimeout, cancel = clearTimeout, now = Date.now }) {
  const kept = [];
  const pending = [];
  let timer = null;

  function record(kind, fields = {}) {
    const event = { kind, at: now(), ...fields };
    pushBounded(kept, event);
    pushBounded(pending, event);
    if (pending.length >= BATCH_MAX) flush();
    else if (timer === null) timer = schedule(() => flush(), FLUSH_DELAY_MS);
  }

  // keepalive: the page is going away; the browser still delivers the request.
  function flush({ keepalive = false } = {}) {
    if (timer !== null) cancel(timer);
    timer = null;
    while (pending.length) send(pending.splice(0, BATCH_MAX), { keepalive });
  }

  return { record, flush, events: () => kept.slice() };
}

function pushBounded(list, item) {
  list.push(item);
  if (list.length > MAX_KEPT) list.shift();
}

// The log entry a change of connection state deserves, or null. `conn` is what
// stream_client.js reports: { state, attempt, nextTryAt?, cause?, detail? }.
export function connectionEvent(previous, conn, lastSeq, nowMs) {
  if (conn.state === "reconnecting" && (previous.state !== "reconnecting" || conn.attempt !== previous.attempt)) {
    const event = { after_seq: lastSeq, attempt: conn.attempt };
    if (conn.nextTryAt) event.delay_ms = Math.max(0, Math.round(conn.nextTryAt - nowMs));
    if (conn.cause) event.cause = conn.cause;
    return { kind: "reconnect", ...event };
  }
  // A switch of transport (stream_client.js passes a detail only when it switches).
  if (conn.detail && ((conn.state === "polling" && previous.state !== "polling") || conn.state === "live")) {
    return { kind: "fallback", after_seq: lastSeq, detail: conn.detail };
  }
  if ((conn.state === "live" || conn.state === "polling") &&
      (previous.state === "reconnecting" || previous.state === "offline")) {
    return { kind: "connected", after_seq: lastSeq };
  }
  if (conn.state === "offline" && previous.state !== "offline") return { kind: "offline", online: false };
  return null;
}

// The support report as copied: the server's report plus what only the browser knows.
export function withBrowserSide(report, { events, userAgent, online, nowIso }) {
  return {
    ...report,
    browser: { user_agent: userAgent, online_now: online, copied_at: nowIso, connection_events: events },
  };
}
