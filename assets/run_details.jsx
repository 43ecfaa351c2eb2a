// The "Details" view of one answer: its timeline (requests, attempts, reconnects, the end),
// read from the server when opened and again when the answer ends, and the support report
// to copy, with the browser's own connection log added.

import { useEffect, useState } from "react";
import { copyText } from "./answer_markdown.jsx";
import { withBrowserSide } from "./connection_log.js";
import { describeEntry, formatClock, formatOffset } from "./timeline_format.js";

export function RunDetails({ timelineUrl, reportUrl, connectionLog, ended }) {
  const [entries, setEntries] = useState(null);
  const [problem, setProblem] = useState("");
  const [copied, setCopied] = useState("");

  const load = () =>
    fetch(timelineUrl)
      .then((response) => (response.ok ? response.json() : Promise.reject(new Error(`HTTP ${response.status}`))))
      .then((body) => {
        setEntries(body.entries);
        setProblem("");
      })
      .catch((error) => setProblem(`Could not load the details (${error.message}).`));

  useEffect(() => {
    load();
  }, [timelineUrl, ended]);

  const copyReport = () =>
    fetch(reportUrl)
      .then((response) => (response.ok ? response.json() : Promise.reject(new Error(`HTTP ${response.status}`))))
      .then((report) => {
        const full = withBrowserSide(report, {
          events: connectionLog.events(),
          userAgent: navigator.userAgent,
          online: navigator.onLine,
          nowIso: new Date().toISOString(),
        });
        return copyText(JSON.stringify(full, null, 2));
      })
      .then(() => setCopied("Support report copied"))
      .catch((error) => setCopied(`Could not copy the report (${error.message})`));

  return (
    <section className="ub-details" data-testid="run-details" aria-label="Answer details">
      {problem ? <p className="ub-detail">{problem}</p> : null}
      {entries === null && !problem ? <p className="ub-detail">Loading…</p> : null}
      {entries ? (
        <ol className="ub-timeline">
          {entries.map((entry, i) => (
            <li key={i} data-kind={entry.kind} data-source={entry.source}>
              <span className="ub-timeline-offset">{formatOffset(entry.t_ms)}</span>{" "}
              <time dateTime={entry.at} className="ub-timeline-clock">
                {formatClock(entry.at)}
              </time>{" "}
              <span className="ub-timeline-text">{describeEntry(entry)}</span>
            </li>
          ))}
        </ol>
      ) : null}
      <div className="ub-details-actions">
        <button type="button" className="ub-button" aria-label="Refresh details" onClick={load}>
          Refresh
        </button>
        <button type="button" className="ub-button" aria-label="Copy support report" onClick={copyReport}>
          Copy support report
        </button>
        <span role="status">{copied}</span>
      </div>
    </section>
  );
}
