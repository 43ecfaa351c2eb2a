// When the event stream is unusable and the page falls back to long polling: pure rules,
// no I/O, no timers (stream_client.js keeps the clock and asks these functions).
//
// The server writes a `ping` the moment an event stream opens, in the same breath as the
// response headers (design.md). So a stream whose first ping comes FIRST_PING_DEADLINE_MS
// or more after it was answered (EventSource `open`), or FIRST_PING_REQUEST_DEADLINE_MS or
// more after it was requested — or has not come by then — is being held by something
// between us: a proxy buffering the response, which lets bytes (headers included, for
// nginx) through only when a buffer fills. Neither deadline depends on the heartbeat
// interval: the first ping is not a heartbeat, it is sent at once. 2 s covers a lost
// segment's retransmission (TCP's initial timeout is 1 s) with room to spare; 4 s from the
// request also allows for connection set-up. A dead server or network is not silent — it
// refuses, answers 502 or goes offline, and the stream client reconnects — but a server
// that takes over 4 s to answer is taken for a buffer (polling then works, only slower,
// and the probes switch back). A stream that is answered and closed again
// QUICK_CLOSES_TO_FALL_BACK times in a row within QUICK_CLOSE_MS of opening, without
// bringing a single log event, is unusable too (a proxy that cuts long responses).
// A connection that brought log events is usable, however often it breaks: resuming by seq
// handles that.

export const FIRST_PING_DEADLINE_MS = 2000; // after the answer (EventSource open)
export const FIRST_PING_REQUEST_DEADLINE_MS = 4000; // after the request
export const QUICK_CLOSE_MS = 2000;
export const QUICK_CLOSES_TO_FALL_BACK = 3;
export const PROBE_FIRST_DELAY_MS = 30_000; // while polling, try the event stream again after this,
export const PROBE_MAX_DELAY_MS = 300_000; // doubling after each failed try, up to this
export const POLL_MIN_SPACING_MS = 1000; // between two polls that brought nothing (the server holds up to 25 s)

// One EventSource connection as the stream client saw it (times in ms, null until it happened):
// { openedAtMs, answeredAtMs, firstEventAtMs, closedAtMs, progressed }. `firstEventAtMs` is
// the first ping or log event; `progressed` is true once a log event was applied from it.
export function newAttempt(nowMs) {
  return { openedAtMs: nowMs, answeredAtMs: null, firstEventAtMs: null, closedAtMs: null, progressed: false };
}

// { unusable: false } or { unusable: true, detail } for the connection log and the timeline.
// `attempts`: the recent connections, oldest first, the current one last.
export function streamVerdict(attempts, nowMs) {
  const current = attempts[attempts.length - 1];
  if (!current) return { unusable: false };
  if (isBuffered(current, nowMs)) {
    return { unusable: true, detail: "event stream buffered: no prompt heartbeat; long polling" };
  }
  const recent = attempts.slice(-QUICK_CLOSES_TO_FALL_BACK);
  if (recent.length === QUICK_CLOSES_TO_FALL_BACK && recent.every(isQuickClose)) {
    return {
      unusable: true,
      detail: `event stream closed right after opening ${QUICK_CLOSES_TO_FALL_BACK} times; long polling`,
    };
  }
  return { unusable: false };
}

function isBuffered(attempt, nowMs) {
  if (attempt.firstEventAtMs === null && attempt.closedAtMs !== null) return false;
  const firstPingAtMs = attempt.firstEventAtMs ?? nowMs; // none yet: as if it came now
  const late = (sinceMs, deadlineMs) => sinceMs !== null && firstPingAtMs - sinceMs >= deadlineMs;
  return late(attempt.answeredAtMs, FIRST_PING_DEADLINE_MS) || late(attempt.openedAtMs, FIRST_PING_REQUEST_DEADLINE_MS);
}

function isQuickClose(attempt) {
  return (
    attempt.answeredAtMs !== null &&
    attempt.closedAtMs !== null &&
    !attempt.progressed &&
    attempt.closedAtMs - attempt.answeredAtMs <= QUICK_CLOSE_MS
  );
}

// How long a stream may stay silent before the watchdog reconnects. Before its first event
// it is given at least the first-ping deadline, so the buffering verdict comes first.
export function silenceLimitMs(heartbeatMs, sawEvent) {
  return sawEvent ? heartbeatMs * 2 : Math.max(FIRST_PING_REQUEST_DEADLINE_MS, heartbeatMs * 2);
}

// The wait before the next probe of the event stream, after `failedProbes` failed ones.
export function probeDelayMs(failedProbes) {
  return Math.min(PROBE_MAX_DELAY_MS, PROBE_FIRST_DELAY_MS * 2 ** Math.min(Math.max(failedProbes, 0), 10));
}

// The wait before the next poll: none after one that brought events; otherwise polls are
// spaced by at least POLL_MIN_SPACING_MS (a run with no producer here is answered at once).
export function pollDelayMs(elapsedMs, eventCount) {
  return eventCount > 0 ? 0 : Math.max(0, POLL_MIN_SPACING_MS - elapsedMs);
}

// Polling is over when a poll brought nothing new, the page has applied the run's end and
// the server says the run is in a terminal state — as the event stream is over when the
// server closes it after an end (a Continue, or a restart's auto-continue, may follow an end).
export function pollingFinished({ eventCount, endedHere, serverState, terminalStates }) {
  return eventCount === 0 && endedHere && terminalStates.has(serverState);
}

// "/api/runs/r/events" → "/api/runs/r/poll" (the same run's long-poll endpoint).
export function pollUrlFor(eventsUrl) {
  const [path, query] = eventsUrl.split("?", 2);
  const poll = path.replace(/\/events$/, "/poll");
  return query === undefined ? poll : `${poll}?${query}`;
}
