// Chaos mode's switch on /diagnostics: on/off and which faults, through GET/PUT /api/chaos.
// The server holds the truth; the switch shows what the server answered, never a guess.

import { useEffect, useState } from "react";

const FAULT_LABELS = {
  rate_limit: "Rate limit (HTTP 429 with Retry-After)",
  overload: "Overloaded provider (HTTP 503)",
  upstream_drop: "Provider connection dropped mid-answer",
  upstream_stall: "Provider goes silent (until the idle timeout)",
  stream_cut: "Event stream to the browser cut",
};

export function ChaosSwitch({ url = "/api/chaos" }) {
  const [chaos, setChaos] = useState(null);
  const [problem, setProblem] = useState("");

  const apply = (request) =>
    request
      .then((response) => response.json().then((body) => ({ response, body })))
      .then(({ response, body }) => {
        if (!response.ok) throw new Error(body.error ? body.error.message : `HTTP ${response.status}`);
        setChaos(body);
        setProblem("");
      })
      .catch((error) => setProblem(`Chaos mode could not be changed: ${error.message}`));

  useEffect(() => {
    apply(fetch(url));
  }, [url]);

  const save = (enabled, faults) =>
    apply(
      fetch(url, {
        method: "PUT",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ enabled, faults }),
      }),
    );

  if (chaos === null) return <p className="ub-diag-summary">{problem || "Loading…"}</p>;
  const toggleFault = (name) =>
    save(chaos.enabled, chaos.faults.includes(name) ? chaos.faults.filter((f) => f !== name) : [...chaos.faults, name]);

  return (
    <div className="ub-chaos-switch">
      <p className="ub-diag-summary">
        Inject faults on purpose to watch answers survive them: each new answer meets one or two upstream failures
        and has its event stream cut a few times, and still arrives whole. Each answer's Details show what happened.
      </p>
      <label className="ub-chaos-toggle">
        <input
          type="checkbox"
          role="switch"
          aria-label="Chaos mode"
          checked={chaos.enabled}
          onChange={(event) => save(event.target.checked, chaos.faults)}
        />{" "}
        <strong>{chaos.enabled ? "Chaos mode is on" : "Chaos mode is off"}</strong>
      </label>
      <fieldset className="ub-chaos-faults">
        <legend>Faults</legend>
        {chaos.available.map((name) => (
          <label key={name}>
            <input
              type="checkbox"
              aria-label={FAULT_LABELS[name] || name}
              checked={chaos.faults.includes(name)}
              onChange={() => toggleFault(name)}
            />{" "}
            {FAULT_LABELS[name] || name}
          </label>
        ))}
      </fieldset>
      {problem ? (
        <p className="ub-diag-advice" role="alert">
          {problem}
        </p>
      ) : null}
    </div>
  );
}
