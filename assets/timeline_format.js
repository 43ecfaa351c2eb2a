// How a run's timeline entries (GET /api/runs/{id}/timeline) read to a person. Pure.

const CLOSERS = { client: "the browser", server: "the server", chaos: "chaos mode" };

function httpStatus(entry) {
  return entry.status ? ` (HTTP ${entry.status})` : "";
}

function seconds(value) {
  return `${Number(value).toFixed(value < 10 ? 1 : 0)} s`;
}

const DESCRIBE = {
  request: (e) => `Request sent to ${e.provider}, model ${e.model}`,
  attempt: (e) => {
    const what = e.continued_from_chars
      ? `Attempt ${e.attempt}: continuing after ${e.continued_from_chars} characters`
      : `Attempt ${e.attempt} started`;
    return e.transport === "plain" ? `${what}, without streaming (${e.fallback})` : what;
  },
  first_text: (e) => `First token (attempt ${e.attempt})`,
  attempt_end: (e) => {
    if (e.outcome === "ok") return `Attempt ${e.attempt} finished`;
    const wait = e.wait_s != null ? `; next try after ${seconds(e.wait_s)}` : "";
    const why = e.error ? `: ${e.error}` : "";
    return `Attempt ${e.attempt} failed, ${e.outcome}${httpStatus(e)}${why}${wait}`;
  },
  stream_open: (e) =>
    e.after_seq ? `Event stream reopened, resuming after event ${e.after_seq}` : "Event stream opened",
  stream_close: (e) =>
    `Event stream closed by ${CLOSERS[e.closed_by] || e.closed_by} (${e.events} events, ${e.bytes} bytes)`,
  reconnect: (e) => {
    const cause = e.cause ? ` after ${e.cause}` : "";
    return `Browser reconnecting${cause}, resuming after event ${e.after_seq} (try ${e.attempt})`;
  },
  connected: (e) => `Browser connected again, resuming after event ${e.after_seq}`,
  gap: (e) => `Browser saw a gap: expected event ${e.expected_seq}, got ${e.got_seq}`,
  offline: () => "Browser went offline",
  online: () => "Browser back online",
  fallback: (e) => `Browser switched transport${e.detail ? `: ${e.detail}` : ""}`,
  end: (e) => `Ended: ${e.state}${e.detail ? ` (${e.detail})` : ""}`,
};

export function describeEntry(entry) {
  const describe = DESCRIBE[entry.kind];
  return describe ? describe(entry) : entry.kind;
}

// "+1.234 s" from the request; entries before it (clock skew) read as negative.
export function formatOffset(ms) {
  const sign = ms < 0 ? "−" : "+";
  return `${sign}${(Math.abs(ms) / 1000).toFixed(3)} s`;
}

// The absolute time, local, to the millisecond: "14:02:03.123".
export function formatClock(iso) {
  const at = new Date(iso);
  if (Number.isNaN(at.getTime())) return "";
  const pad = (n, width = 2) => String(n).padStart(width, "0");
  return `${pad(at.getHours())}:${pad(at.getMinutes())}:${pad(at.getSeconds())}.${pad(at.getMilliseconds(), 3)}`;
}
