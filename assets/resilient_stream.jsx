// The assistant message: follows its run's event stream and shows text, run state and
// connection state. A thin React wrapper over stream_apply.js (pure) and stream_client.js
// (I/O). Tokens reach the page here, never through Reflex state.

import { useEffect, useRef, useState } from "react";
import { AnswerMarkdown, copyText } from "./answer_markdown.jsx";
import { connectionEvent, createConnectionLog } from "./connection_log.js";
import { createRenderPacer } from "./render_pacer.js";
import { RunDetails } from "./run_details.jsx";
import { applyEvent, connectionLabel, initialModel, isEnded, retryLabel, tokenLabel } from "./stream_apply.js";
import { followRun } from "./stream_client.js";

const STATE_LABELS = {
  queued: "Queued",
  connecting: "Connecting to the model…",
  streaming: "",
  retrying: "",
  continuing: "Continuing from where it stopped",
  complete: "",
  truncated: "Reached the length limit",
  stopped: "Stopped",
  failed: "Failed",
  interrupted: "Interrupted",
};

function useNow(active) {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    if (!active) return undefined;
    const timer = setInterval(() => setNow(Date.now()), 500);
    return () => clearInterval(timer);
  }, [active]);
  return now;
}

const CONTINUABLE = new Set(["stopped", "truncated", "interrupted"]);
// Streaming text is rendered at most this often (render_pacer.js): ten renders a second still
// reads as flowing text, and halves the page's main-thread time at 100 tokens/s (bench M7).
const RENDER_INTERVAL_MS = 100;

// The run's connection log, sending its batches to the server (best effort), and noting
// navigator.onLine changes while the message is on the page.
function useConnectionLog(clientEventsUrl) {
  const [log] = useState(() =>
    createConnectionLog({
      send: (events, { keepalive }) =>
        fetch(clientEventsUrl, {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ events, sent_at: Date.now() }), // sent_at: to place events on the server's clock
          keepalive,
        }).catch(() => undefined),
    }),
  );
  useEffect(() => {
    const online = () => log.record("online", { online: true });
    const offline = () => log.record("offline", { online: false });
    const leaving = () => log.flush({ keepalive: true });
    window.addEventListener("online", online);
    window.addEventListener("offline", offline);
    window.addEventListener("pagehide", leaving);
    return () => {
      window.removeEventListener("online", online);
      window.removeEventListener("offline", offline);
      window.removeEventListener("pagehide", leaving);
      leaving();
    };
  }, [log]);
  return log;
}

export function ResilientStream({
  runId, eventsUrl, stopUrl, continueUrl, retryUrl, timelineUrl, reportUrl, clientEventsUrl, initialState,
  initialText, initialDetail, initialSeq, heartbeatMs, demo, onRetried,
}) {
  const startEnded = isEnded({ runState: initialState });
  const [model, setModel] = useState(() =>
    initialModel({
      runState: initialState,
      text: startEnded ? initialText || "" : "",
      detail: startEnded ? initialDetail || "" : "",
      lastSeq: startEnded ? initialSeq || 0 : 0, // an ended answer's text is the snapshot up to here
    }),
  );
  const modelRef = useRef(model);
  const [conn, setConn] = useState({ state: startEnded ? "closed" : "connecting", attempt: 0 });
  const connRef = useRef(conn);
  const connectionLog = useConnectionLog(clientEventsUrl);
  const [showDetails, setShowDetails] = useState(false);
  // Bumped by Continue: the run goes on in the same log, so following starts again.
  const [generation, setGeneration] = useState(0);
  const now = useNow(conn.state === "reconnecting" || model.runState === "retrying");

  useEffect(() => {
    if (startEnded && generation === 0) return undefined;
    const pacer = createRenderPacer({
      render: () => setModel(modelRef.current),
      intervalMs: RENDER_INTERVAL_MS,
      now: () => performance.now(),
      setTimer: (fn, ms) => setTimeout(fn, ms),
      clearTimer: (timer) => clearTimeout(timer),
    });
    const follower = followRun({
      url: eventsUrl,
      heartbeatMs: heartbeatMs || 15000,
      getLastSeq: () => modelRef.current.lastSeq,
      isEnded: () => isEnded(modelRef.current),
      onEvent: (kind, data) => {
        const { model: next, outcome } = applyEvent(modelRef.current, kind, data);
        if (outcome === "applied") {
          modelRef.current = next;
          if (kind === "delta") pacer.soon();
          else pacer.now();
        } else if (outcome === "gap") {
          connectionLog.record("gap", { expected_seq: modelRef.current.lastSeq + 1, got_seq: data.seq });
        }
        return outcome;
      },
      onConnection: (next) => {
        const event = connectionEvent(connRef.current, next, modelRef.current.lastSeq, Date.now());
        if (event) {
          const { kind, ...fields } = event;
          connectionLog.record(kind, fields);
        }
        connRef.current = next;
        setConn(next);
      },
    });
    // A pending render can be dropped: this runs on unmount, or on Continue, after an end that
    // rendered the run's last text at once.
    return () => {
      follower.close();
      pacer.cancel();
    };
  }, [runId, generation]);

  const ended = isEnded(model);
  const stop = () => fetch(stopUrl, { method: "POST" }).catch(() => undefined);

  // Esc stops the answer while it runs (unless something else, e.g. a dialog, used the key).
  useEffect(() => {
    if (ended) return undefined;
    const onKey = (event) => {
      if (event.key === "Escape" && !event.defaultPrevented) stop();
    };
    document.addEventListener("keydown", onKey);
    return () => document.removeEventListener("keydown", onKey);
  }, [ended, stopUrl]);
  // Retry and Continue: a refusal (a limit, a state that changed meanwhile) is shown, not swallowed.
  const [refusal, setRefusal] = useState("");
  const act = (url) =>
    fetch(url, { method: "POST" })
      .then((response) => response.json().then((body) => ({ ok: response.ok, body })))
      .then(({ ok, body }) => {
        setRefusal(ok ? "" : (body.error && body.error.message) || "The server refused.");
        return ok ? body : null;
      })
      .catch(() => setRefusal("The server could not be reached; try again."));
  const retry = () =>
    act(retryUrl).then((created) => {
      if (created && created.run_id !== runId && onRetried) onRetried(created.run_id);
    });
  const goOn = () =>
    act(continueUrl).then((continued) => {
      if (continued) setGeneration((g) => g + 1);
    });
  const stateLabel = STATE_LABELS[model.runState] ?? model.runState;
  const detail = model.detail && model.detail !== stateLabel ? model.detail : "";
  const connLabel = ended ? "" : connectionLabel(conn, now);
  const waitLabel = retryLabel(model, now);

  return (
    <div
      className="ub-answer"
      data-testid="assistant-message"
      data-run-id={runId}
      data-run-state={model.runState}
      data-conn-state={conn.state}
      aria-busy={!ended}
    >
      {demo ? <span className="ub-demo-badge">demo</span> : null}
      <div className="ub-answer-text">
        <AnswerMarkdown text={model.text} />
      </div>
      <div className="ub-answer-footer" role="status" aria-live="polite">
        {stateLabel ? <span className={`ub-state ub-state-${model.runState}`}>{stateLabel}</span> : null}
        {waitLabel ? <span className="ub-countdown">{waitLabel}</span> : null}
        {detail ? <span className="ub-detail">{detail}</span> : null}
        {connLabel ? <span className="ub-conn">{connLabel}</span> : null}
        {refusal ? (
          <span className="ub-refusal" role="alert">
            {refusal}
          </span>
        ) : null}
        {model.text ? (
          <span className="ub-tokens" data-testid="token-count" title="Tokens in this answer (estimated while it streams)">
            {tokenLabel(model)}
          </span>
        ) : null}
        {!ended ? (
          <button type="button" aria-label="Stop" className="ub-button" onClick={stop}>
            Stop
          </button>
        ) : null}
        {model.runState === "retrying" ? (
          <button type="button" aria-label="Retry now" className="ub-button" onClick={retry}>
            Retry now
          </button>
        ) : null}
        {ended && model.text ? (
          <button type="button" aria-label="Copy" className="ub-button" onClick={() => copyText(model.text)}>
            Copy
          </button>
        ) : null}
        {ended ? (
          <button type="button" aria-label="Retry" className="ub-button" onClick={retry}>
            {model.runState === "complete" ? "Regenerate" : "Retry"}
          </button>
        ) : null}
        {CONTINUABLE.has(model.runState) ? (
          <button type="button" aria-label="Continue" className="ub-button" onClick={goOn}>
            Continue
          </button>
        ) : null}
        <button
          type="button"
          aria-label="Details"
          aria-expanded={showDetails}
          className="ub-button ub-button-quiet"
          onClick={() => setShowDetails((shown) => !shown)}
        >
          Details
        </button>
      </div>
      {showDetails ? (
        <RunDetails timelineUrl={timelineUrl} reportUrl={reportUrl} connectionLog={connectionLog} ended={ended} />
      ) : null}
    </div>
  );
}
