"""Small statistics for the benchmark: percentiles, medians, results as plain dicts."""

from __future__ import annotations

import math
import statistics


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (0–100), nearest rank."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def median(values: list[float]) -> float:
    return statistics.median(values)


def result(metric: str, what: str, baseline: str, value: float, target: str, met: bool | None,
           unit: str = "×", **details) -> dict:
    """One row of the results table; ``met`` None means informational (no target)."""
    return {"metric": metric, "what": what, "baseline": baseline, "value": round(value, 4), "unit": unit,
            "target": target, "met": met, "details": details}
