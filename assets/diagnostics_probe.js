// Measuring the path for the diagnostics page: the server's overview and the probe streams of
// app/web/diagnostics.py, read with EventSource and timed with performance.now(). All I/O is
// here; what the numbers mean is decided in diagnostics_checks.js.
//
// A probe never lets EventSource reconnect: an error (a cut, a refused connection, the server
// closing after `done`) ends the measurement, and what arrived until then is the result.

const GRACE_MS = 10000; // past the probe's own duration: a path that never delivers

export async function fetchOverview() {
  const response = await fetch("/api/diagnostics", { cache: "no-store" });
  if (!response.ok) throw new Error(`GET /api/diagnostics answered ${response.status}`);
  return response.json();
}

/**
 * The tick stream: resolves with { ticks, pings, done, error, expectedTicks, expectedPings },
 * each tick and ping as { n, serverMs, arrivedMs }. `onProgress(partial)` after every event;
 * `signal` (an AbortSignal) ends it early.
 */
export function runTickProbe({ ticks, intervalMs, pings, heartbeatMs, onProgress, signal }) {
  const url = `/api/diagnostics/stream?ticks=${ticks}&interval_ms=${intervalMs}&pings=${pings}`;
  const durationMs = Math.max(ticks * intervalMs, pings * heartbeatMs);
  const expectedPings = Math.max(pings, Math.floor(durationMs / heartbeatMs + 1e-9));
  const state = { ticks: [], pings: [], done: false, error: null, expectedTicks: ticks, expectedPings };
  return new Promise((resolve) => {
    const started = performance.now();
    const source = new EventSource(url);
    let timer = null;
    const finish = (error) => {
      if (timer === null) return;
      clearTimeout(timer);
      timer = null;
      source.close();
      signal?.removeEventListener("abort", onAbort);
      if (error && !state.done) state.error = error;
      resolve(state);
    };
    const onAbort = () => finish("stopped");
    timer = setTimeout(() => finish(`nothing more arrived within ${(durationMs + GRACE_MS) / 1000} s`),
      durationMs + GRACE_MS);
    signal?.addEventListener("abort", onAbort);
    const record = (list) => (message) => {
      const data = JSON.parse(message.data);
      list.push({ n: data.n, serverMs: data.server_ms, arrivedMs: performance.now() - started });
      onProgress?.(state);
    };
    source.addEventListener("tick", record(state.ticks));
    source.addEventListener("ping", record(state.pings));
    source.addEventListener("done", () => {
      state.done = true;
      finish(null);
    });
    source.onerror = () => finish(state.ticks.length ? "the connection was lost" : "the stream could not be opened");
  });
}

/** The idle probe: resolves true when `done` arrived after `seconds` of silence, false on a cut. */
export function runIdleProbe(seconds, signal) {
  return new Promise((resolve) => {
    const source = new EventSource(`/api/diagnostics/idle?seconds=${seconds}`);
    let settled = false;
    let timer = null;
    const settle = (survived) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      source.close();
      signal?.removeEventListener("abort", onAbort);
      resolve(survived);
    };
    const onAbort = () => settle(false);
    signal?.addEventListener("abort", onAbort);
    timer = setTimeout(() => settle(false), seconds * 1000 + GRACE_MS);
    source.addEventListener("done", () => settle(true));
    source.onerror = () => settle(false);
  });
}

/** Tries each silence in turn and stops at the first that did not survive. */
export async function measureIdle(steps, { onStep, signal } = {}) {
  const results = [];
  for (const seconds of steps) {
    if (signal?.aborted) break;
    onStep?.(seconds, results);
    const survived = await runIdleProbe(seconds, signal);
    if (signal?.aborted) break;
    results.push({ seconds, survived });
    if (!survived) break;
  }
  return results;
}
