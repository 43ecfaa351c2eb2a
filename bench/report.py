"""The benchmark's outputs: ``bench/results.json`` and the results table in ``bench/README.md``
(between the ``results`` markers; the rest of that file is written by hand).

``LIMITS`` says, for a metric that misses its target, what holds it back; it is written from
the profiles of a run (the excerpts land in results.json and the README) and shown only when
the metric is unmet in the run being reported.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import re
from pathlib import Path

from bench.stats import result

HERE = Path(__file__).resolve().parent
RESULTS_JSON = HERE / "results.json"
README = HERE / "README.md"
_MARKERS = re.compile(r"(<!-- results -->\n).*?(<!-- /results -->)", re.S)
PROFILE_EXCERPT_LINES = 18

LIMITS: dict[str, str] = {}

NOT_MEASURED = {
    "M7": ("browser main-thread time to show a streamed 10k-token markdown answer",
           "rendering the final answer once", "≤ 5× at 100 tok/s, ≤ 2× at 3,000 tok/s"),
    "M8": ("bytes sent to the browser for that answer", "the answer streamed through Reflex state, a yield per token",
           "≤ 0.05× and ≤ 1.3× the answer's bytes"),
}
NOT_MEASURED_REASON = "not measured: the browser scenarios (Chromium + the Reflex app) were not built in the time given"


def not_measured(only: set[str]) -> list[dict]:
    return [result(name, what, baseline, float("nan"), target, None, reason=NOT_MEASURED_REASON)
            for name, (what, baseline, target) in NOT_MEASURED.items() if not only or name in only]


def machine() -> dict:
    model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    mem_kib = int(next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                       if line.startswith("MemTotal:")))
    return {"cores": os.cpu_count(), "ram_gib": round(mem_kib / 1024 / 1024, 1), "cpu": model,
            "python": platform.python_version(), "kernel": platform.release()}


def _excerpt(profile: str) -> str:
    lines = profile.strip().splitlines()
    start = next((i for i, line in enumerate(lines) if line.lstrip().startswith("ncalls")), 0)
    return "\n".join(lines[start : start + PROFILE_EXCERPT_LINES])


def write(rows: list[dict], profiles: dict[str, str], duration_s: float, partial: bool) -> dict:
    for row in rows:
        if row["met"] is False and row["metric"].split("/")[0] in LIMITS:
            row["limit"] = LIMITS[row["metric"].split("/")[0]]
    results = {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "duration_s": round(duration_s),
        "partial": partial,
        "results": rows,
        "profiles": {name: _excerpt(text) for name, text in profiles.items()},
    }
    RESULTS_JSON.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    if not partial:
        readme = README.read_text()
        README.write_text(_MARKERS.sub(lambda m: m[1] + markdown(results) + m[2], readme))
    return results


def _value(row: dict) -> str:
    if row["value"] != row["value"]:  # NaN: not measured
        return "—"
    unit = row["unit"]
    return f"{row['value']:.2f}{unit}" if unit == "×" else f"{row['value']:.2f} {unit}"


def _verdict(row: dict) -> str:
    return {True: "met", False: "**unmet**", None: "not measured"}[row["met"]]


def _note(row: dict) -> str:
    details = row["details"]
    if "reason" in details:
        return details["reason"]
    shown = ", ".join(f"{k}={v}" for k, v in details.items())
    return shown + (f" — limit: {row['limit']}" if row.get("limit") else "")


def table(rows: list[dict]) -> str:
    lines = ["| # | metric | baseline (same run) | measured | target | verdict | details |", "|---|---|---|---|---|---|---|"]
    lines += [f"| {r['metric']} | {r['what']} | {r['baseline']} | {_value(r)} | {r['target']} | {_verdict(r)} | {_note(r)} |"
              for r in rows]
    return "\n".join(lines)


def markdown(results: dict) -> str:
    m = results["machine"]
    parts = [
        f"Run of {results['date']} on {m['cores']} cores ({m['cpu']}), {m['ram_gib']} GiB RAM, Python {m['python']}, "
        f"Linux {m['kernel']}; the whole run took {results['duration_s']} s.",
        "",
        table(results["results"]),
        "",
    ]
    for name, excerpt in results["profiles"].items():
        parts += [f"Profile of the app during {name} (cProfile, top entries by own time):", "", "```", excerpt, "```", ""]
    return "\n".join(parts)
