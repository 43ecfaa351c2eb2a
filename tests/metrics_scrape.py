"""Read ``GET /metrics`` the way Prometheus does: with the client library's text parser."""

from __future__ import annotations

import time

import httpx
from prometheus_client.parser import text_string_to_metric_families

# The sample names each family type exports, by suffix (counters add _total to the family name).
SAMPLE_SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}


class Scrape:
    def __init__(self, text: str) -> None:
        self.families = list(text_string_to_metric_families(text))
        self.samples = [sample for family in self.families for sample in family.samples]

    def value(self, name: str, **labels: str) -> float:
        """The sum of the samples called ``name`` whose labels include ``labels`` (0 when none)."""
        return sum(s.value for s in self.samples
                   if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))

    def exported_names(self) -> set[str]:
        """Every sample name the exposition declares, whether or not it has samples yet."""
        names = {s.name for s in self.samples}
        for family in self.families:
            names.update(family.name + suffix for suffix in SAMPLE_SUFFIXES.get(family.type, ("",)))
        return names


def scrape(base: str) -> Scrape:
    response = httpx.get(f"{base}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return Scrape(response.text)


def scrape_until(base: str, ready, timeout_s: float = 10.0) -> Scrape:
    """Scrape until ``ready(scrape)`` holds (what a stream's close notes lands just after the
    client saw its last byte); the last scrape when the time is up."""
    deadline = time.monotonic() + timeout_s
    while True:
        current = scrape(base)
        if ready(current) or time.monotonic() > deadline:
            return current
        time.sleep(0.02)
