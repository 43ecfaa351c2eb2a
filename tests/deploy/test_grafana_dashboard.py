"""The Grafana dashboard in deploy/ cannot drift from what ``GET /metrics`` exports: every
metric a panel queries exists, and every metric family has a panel."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from app.engine.gate import CircuitBreaker, SlotQueue
from app.engine.metrics import Metrics
from tests.metrics_scrape import Scrape

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "unbroken.json"
METRIC_NAME = re.compile(r"\bunbroken_[a-z0-9_]+\b")
DATASOURCE = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}


@pytest.fixture(scope="module")
def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


@pytest.fixture(scope="module")
def exported() -> Scrape:
    metrics = Metrics()
    metrics.watch_gate("demo", CircuitBreaker("demo", 5, 30.0, lambda: 0.0), SlotQueue(1))
    return Scrape(metrics.render()[0].decode())


def panels(dashboard: dict) -> list[dict]:
    found = []
    for panel in dashboard["panels"]:
        found.append(panel)
        found.extend(panel.get("panels", []))  # collapsed rows hold their panels
    return [panel for panel in found if panel["type"] != "row"]


def expressions(dashboard: dict) -> list[str]:
    return [target["expr"] for panel in panels(dashboard) for target in panel["targets"]]


def test_every_metric_a_panel_queries_is_exported(dashboard, exported):
    used = {name for expr in expressions(dashboard) for name in METRIC_NAME.findall(expr)}
    assert used, "the dashboard queries no metric"
    assert used - exported.exported_names() == set()


def test_every_exported_metric_family_has_a_panel(dashboard, exported):
    used = " ".join(expressions(dashboard))
    families = {family.name for family in exported.families if not family.name.endswith("_created")}
    assert {family for family in families if not re.search(rf"\b{family}(_total|_bucket|_count|_sum)?\b", used)} == set()


def test_every_panel_reads_the_chosen_prometheus_and_the_provider_filter_exists(dashboard):
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["DS_PROMETHEUS"]["type"] == "datasource"
    assert variables["DS_PROMETHEUS"]["query"] == "prometheus"
    assert "unbroken_circuit_breaker_state" in variables["provider"]["definition"]
    for panel in panels(dashboard):
        assert panel["datasource"] == DATASOURCE, panel["title"]
        assert all(target["datasource"] == DATASOURCE for target in panel["targets"]), panel["title"]
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
