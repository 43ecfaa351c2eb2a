// The page's view of one run's event log, kept by pure functions (no I/O, no DOM).
//
// Invariant: each seq is applied exactly once and in order. An event at or below the last
// applied seq is a duplicate (ignored); an event past lastSeq + 1 is a gap (never applied:
// the caller reconnects with ?after=lastSeq and the server replays what is missing).

export const TERMINAL_STATES = new Set(["complete", "truncated", "stopped", "failed", "interrupted"]);

export function initialModel({ lastSeq = 0, text = "", runState = "queued", detail = "" } = {}) {
  return { lastSeq, text, runState, detail, attempt: null, maxAttempts: null, retryAt: null, tokens: null };
}

export function isEnded(model) {
  return TERMINAL_STATES.has(model.runState);
}

// Returns { model, outcome } where outcome is "applied", "duplicate" or "gap".
export function applyEvent(model, kind, data) {
  const seq = data && data.seq;
  if (!Number.isInteger(seq) || seq <= model.lastSeq) return { model, outcome: "duplicate" };
  if (seq !== model.lastSeq + 1) return { model, outcome: "gap" };
  const next = { ...model, lastSeq: seq };
  if (kind === "delta") {
    next.text = model.text + data.text;
    next.tokens = null; // counted from the text again until the next end says
  } else if (kind === "status") {
    next.runState = data.state;
    next.detail = data.detail || "";
    next.attempt = data.attempt ?? null;
    next.maxAttempts = data.max_attempts ?? null;
    next.retryAt = data.retry_at ?? null;
  } else if (kind === "end") {
    next.runState = data.state;
    next.detail = data.detail || "";
    next.retryAt = null;
    next.tokens = Number.isInteger(data.tokens) ? data.tokens : null;
  }
  return { model: next, outcome: "applied" };
}

// Exponential backoff with full jitter: a random delay in [0, min(cap, base * 2^attempt)].
export function backoffDelayMs(attempt, { baseMs = 500, capMs = 15000, random = Math.random } = {}) {
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.min(Math.max(attempt, 0), 20));
  return Math.round(random() * ceiling);
}

// The answer's length in tokens: the server's count from the last end event, else the same
// estimate the server uses while streaming (app/engine/tokens.py: 4 characters a token).
export function tokenEstimate(text) {
  return Math.ceil(text.length / 4);
}

export function tokenLabel(model) {
  if (!model.text) return "";
  const tokens = model.tokens ?? tokenEstimate(model.text);
  return `${tokens} token${tokens === 1 ? "" : "s"}`;
}

export function urlAfter(url, seq) {
  const sep = url.includes("?") ? "&" : "?";
  return `${url}${sep}after=${seq}`;
}

// What a person reads about a wait the server announced, e.g. "Retrying in 12 s (attempt 2 of 6)".
export function retryLabel(model, nowMs) {
  if (model.runState !== "retrying" || !model.retryAt) return "";
  const seconds = Math.max(0, Math.ceil((Date.parse(model.retryAt) - nowMs) / 1000));
  const attempt = model.attempt && model.maxAttempts ? ` (attempt ${model.attempt} of ${model.maxAttempts})` : "";
  return `Retrying in ${seconds} s${attempt}`;
}

// What a person reads about the connection, e.g. "Reconnecting… (attempt 3, next try in 4 s)",
// or "Slow connection mode" while the answer is followed by long polling.
export function connectionLabel(conn, nowMs) {
  if (conn.state === "offline") return "Offline — waiting for the network";
  if (conn.state === "polling") return "Slow connection mode"; // the event stream is unusable: long polling
  if (conn.state !== "reconnecting") return "";
  const parts = [`attempt ${conn.attempt}`];
  if (conn.nextTryAt) {
    const seconds = Math.max(0, Math.ceil((conn.nextTryAt - nowMs) / 1000));
    parts.push(`next try in ${seconds} s`);
  }
  return `Reconnecting… (${parts.join(", ")})`;
}
