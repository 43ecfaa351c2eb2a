"""Chaos mode through the API: switched at run time, and an answer still arrives whole
despite the faults, which the run's attempts and timeline show."""

from __future__ import annotations

import httpx

from app.engine.providers.demo import demo_answer
from tests.web.test_run_timeline import timeline_of
from tests.web.test_upstream_resilience import ask, finish


def test_chaos_is_off_by_default_and_switched_with_checked_input(api_against):
    base = api_against().url
    assert httpx.get(f"{base}/api/chaos").json()["enabled"] is False
    for body, says in [
        ({"enabled": "yes"}, "enabled must be true or false"),
        ({"enabled": True, "faults": "all"}, "faults must be a list"),
        ({"enabled": True, "faults": ["meteor"]}, "Unknown fault(s): meteor"),
        ({"enabled": True, "speed": 3}, "Unknown field(s): speed"),
    ]:
        response = httpx.put(f"{base}/api/chaos", json=body)
        assert response.status_code == 400 and says in response.json()["error"]["message"], body
    assert httpx.get(f"{base}/api/chaos").json()["enabled"] is False  # a refused change changes nothing
    switched = httpx.put(f"{base}/api/chaos", json={"enabled": True, "faults": ["stream_cut", "overload"]}).json()
    assert (switched["enabled"], switched["faults"]) == (True, ["overload", "stream_cut"])
    assert httpx.get(f"{base}/api/chaos").json() == switched


def test_settings_turn_chaos_on_at_start(api_against):
    base = api_against(chaos=True, chaos_faults=("rate_limit",)).url
    assert httpx.get(f"{base}/api/chaos").json()["faults"] == ["rate_limit"]


def test_the_demo_answer_arrives_exactly_despite_chaos(api_against):
    base = api_against(demo_tokens_per_s=200).url  # slow enough that a stream carries several batches
    httpx.put(f"{base}/api/chaos", json={"enabled": True, "faults": ["rate_limit", "upstream_drop", "stream_cut"]})
    question = "What does chaos mode show?"
    run_id = ask(base, question)
    run, events = finish(base, run_id)  # reconnects with Last-Event-ID whenever a stream is cut
    assert (run["state"], run["text"]) == ("complete", demo_answer(question))
    deltas = [data["seq"] for _, kind, data in events if kind == "delta"]
    assert len(deltas) == len(set(deltas))  # each event applied once across the cuts
    failed = [a for a in run["attempts"] if a["outcome"] != "ok"]
    assert 1 <= len(failed) <= 2 and all("chaos mode" in a["error"] for a in failed)
    entries = timeline_of(base, run_id, stream_closes=2)
    opens = [e["after_seq"] for e in entries if e["kind"] == "stream_open"]
    assert len(opens) >= 2 and opens[0] == 0 and all(after > 0 for after in opens[1:])
    assert any(e["kind"] == "stream_close" and e["closed_by"] == "chaos" for e in entries)
