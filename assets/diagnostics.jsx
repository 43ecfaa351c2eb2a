// The /diagnostics page's checks: a thin React wrapper over diagnostics_probe.js (measuring)
// and diagnostics_checks.js (judging). Each check is a row with data-testid="diag-<check>"
// and data-result: "running", "ok", "warn", "fail" (or "not-run" for the idle timeout,
// which is measured only when asked: it takes minutes).

import { useEffect, useRef, useState } from "react";
import { idleSteps, judgeBuffering, judgeConnections, judgeHeartbeat, judgeIdle } from "./diagnostics_checks.js";
import { fetchOverview, measureIdle, runTickProbe } from "./diagnostics_probe.js";

const TICKS = 10;
const TICK_INTERVAL_MS = 250;
const HEARTBEATS = 1; // after the opening ping: one heartbeat interval of waiting

const BADGES = { running: "Checking…", ok: "OK", warn: "Warning", fail: "Problem", "not-run": "Not measured" };

const running = (summary) => ({ result: "running", summary, advice: "" });

function firstRows() {
  return {
    buffering: running("Opening a test event stream…"),
    heartbeat: running("Waiting for heartbeats…"),
    connections: running("Asking the server…"),
  };
}

// `proxy_buffering off` in advice text becomes <code>.
function WithCode({ text }) {
  return text.split("`").map((part, i) => (i % 2 ? <code key={i}>{part}</code> : part));
}

function Row({ testid, title, verdict, children }) {
  return (
    <li className={`ub-diag-row ub-diag-${verdict.result}`} data-testid={testid} data-result={verdict.result}>
      <div className="ub-diag-head">
        <h2 className="ub-diag-title">{title}</h2>
        <span className="ub-diag-badge">{BADGES[verdict.result]}</span>
      </div>
      <p className="ub-diag-summary">{verdict.summary}</p>
      {verdict.advice ? (
        <p className="ub-diag-advice">
          <WithCode text={verdict.advice} />
        </p>
      ) : null}
      {children}
    </li>
  );
}

async function runChecks(signal, update) {
  let overview;
  try {
    overview = await fetchOverview();
  } catch (error) {
    const failed = { result: "fail", summary: `The server's diagnostics did not answer: ${error.message}.`,
      advice: "Reload the page; if it stays, check that the proxy passes /api/ to Unbroken." };
    update({ buffering: failed, heartbeat: failed, connections: failed });
    return null;
  }
  if (signal.aborted) return null;
  const heartbeatMs = overview.heartbeat_interval_ms;
  update({
    connections: judgeConnections({ openStreams: overview.open_streams }),
    heartbeat: running(`Waiting for heartbeats (the server sends one every ${heartbeatMs / 1000} s)…`),
  });
  let bufferingJudged = false;
  const probe = await runTickProbe({
    ticks: TICKS,
    intervalMs: TICK_INTERVAL_MS,
    pings: HEARTBEATS,
    heartbeatMs,
    signal,
    onProgress: (partial) => {
      // All ticks in: the buffering verdict need not wait for the heartbeats.
      if (!bufferingJudged && partial.ticks.length === partial.expectedTicks && !signal.aborted) {
        bufferingJudged = true;
        update({ buffering: judgeBuffering({ ticks: partial.ticks, expected: partial.expectedTicks }) });
      }
    },
  });
  if (signal.aborted) return null;
  const changes = {
    heartbeat: judgeHeartbeat({ pings: probe.pings, expected: probe.expectedPings, intervalMs: heartbeatMs,
      error: probe.error }),
  };
  if (!bufferingJudged) {
    changes.buffering = judgeBuffering({ ticks: probe.ticks, expected: probe.expectedTicks, error: probe.error });
  }
  update(changes);
  return overview;
}

export function Diagnostics() {
  const [rows, setRows] = useState(firstRows);
  const [busy, setBusy] = useState(true);
  const [round, setRound] = useState(0);
  const [heartbeatMs, setHeartbeatMs] = useState(null);
  const [idle, setIdle] = useState({ result: "not-run", summary: "Not measured yet: it takes up to a few minutes.",
    advice: "" });
  const idleAbort = useRef(null);

  useEffect(() => {
    const controller = new AbortController();
    setRows(firstRows());
    setBusy(true);
    const update = (changes) => {
      if (!controller.signal.aborted) setRows((current) => ({ ...current, ...changes }));
    };
    runChecks(controller.signal, update).then((overview) => {
      if (controller.signal.aborted) return;
      if (overview) setHeartbeatMs(overview.heartbeat_interval_ms);
      setBusy(false);
    });
    return () => controller.abort();
  }, [round]);

  useEffect(() => () => idleAbort.current?.abort(), []);

  const measure = async () => {
    const controller = new AbortController();
    idleAbort.current = controller;
    const steps = idleSteps(window.location.search);
    const interval = heartbeatMs ?? (await fetchOverview().then((o) => o.heartbeat_interval_ms).catch(() => 15000));
    const results = await measureIdle(steps, {
      signal: controller.signal,
      onStep: (seconds, done) =>
        setIdle(running(`Holding a connection silent for ${seconds} s (${done.length + 1} of up to ${steps.length})…`)),
    });
    if (!controller.signal.aborted) setIdle(judgeIdle({ results, heartbeatMs: interval }));
  };

  return (
    <div className="ub-diag">
      <p className="ub-hint">
        These checks test the path between this browser and Unbroken — proxies, load balancers, the network — for
        what breaks streamed answers. They send test streams only; no question goes to a model.
      </p>
      <div className="ub-row">
        <button type="button" className="ub-button" aria-label="Run checks again" disabled={busy}
          onClick={() => setRound((r) => r + 1)}>
          Run checks again
        </button>
      </div>
      <ul className="ub-diag-list" aria-live="polite" aria-busy={busy}>
        <Row testid="diag-buffering" title="Event stream delivery" verdict={rows.buffering} />
        <Row testid="diag-heartbeat" title="Heartbeats" verdict={rows.heartbeat} />
        <Row testid="diag-connections" title="Connections to this site" verdict={rows.connections} />
        <Row testid="diag-idle" title="Idle timeout" verdict={idle}>
          <div className="ub-row">
            <button type="button" className="ub-button" aria-label="Measure idle timeout"
              disabled={idle.result === "running"} onClick={measure}>
              Measure idle timeout
            </button>
          </div>
        </Row>
      </ul>
    </div>
  );
}
