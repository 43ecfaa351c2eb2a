"""A run's cap (its max_tokens) holds while streaming even when the upstream ignores it: the
run ends truncated with its count, and Continue goes on from exactly there."""

from __future__ import annotations

import uuid

import httpx
import pytest

from app.engine.tokens import CHARS_PER_TOKEN, estimate_tokens
from tests.fakes.upstream import Answer
from tests.web.test_upstream_resilience import FULL, finish

pytestmark = pytest.mark.workers

CAP = 50
CHUNK = 10


def test_the_cap_ends_the_run_truncated_and_continue_goes_on_from_there(api_against, upstream):
    # An upstream that ignores max_tokens and would send all of FULL (about 250 tokens).
    upstream.set_script(Answer(text=FULL, chunk_chars=CHUNK))
    base = api_against(upstream).url
    created = httpx.post(f"{base}/api/runs", json={"content": "Tell me a long story", "max_tokens": CAP,
                                                   "client_request_id": uuid.uuid4().hex}).json()
    run_id = created["run_id"]
    run, events = finish(base, run_id)
    cut_at = CAP * CHARS_PER_TOKEN  # the chunk that reaches the cap is kept whole, then reading stops
    assert (run["state"], run["text"]) == ("truncated", FULL[:cut_at])
    end = events[-1][2]
    assert end["tokens"] == CAP == estimate_tokens(len(run["text"]))
    assert end["detail"] == f"Reached the limit of {CAP} tokens; Continue goes on"
    assert run["attempts"][-1]["outcome"] == "cap"
    assert upstream.calls[0]["body"]["max_tokens"] == CAP  # the provider was told too

    upstream.set_script(Answer(text=FULL[cut_at:], chunk_chars=CHUNK))  # the model goes on from the partial
    assert httpx.post(f"{base}/api/runs/{run_id}/continue").status_code == 200
    run, events = finish(base, run_id)
    assert (run["state"], run["text"]) == ("truncated", FULL[: 2 * cut_at])  # another cap's worth, no repeat
    assert events[-1][2]["tokens"] == 2 * CAP
    assert FULL[:cut_at].rstrip() in str(upstream.calls[1]["body"]["messages"])


def test_no_cap_no_cut(api_against, upstream):
    upstream.set_script(Answer(text=FULL, chunk_chars=CHUNK))
    base = api_against(upstream).url
    created = httpx.post(f"{base}/api/runs", json={"content": "Tell me", "client_request_id": uuid.uuid4().hex})
    run, events = finish(base, created.json()["run_id"])
    assert (run["state"], run["text"]) == ("complete", FULL)
    assert events[-1][2]["tokens"] == estimate_tokens(len(FULL))


def test_the_providers_own_count_wins_over_the_estimate(api_against, upstream):
    # The fake's Anthropic format reports 12 output tokens for any answer; the first attempt drops
    # before reporting, so its 40 characters count as the estimate.
    upstream.set_script(Answer(text=FULL[:200], chunk_chars=CHUNK, drop_after_chunks=4),
                        Answer(text=FULL[40:200], chunk_chars=CHUNK))
    base = api_against(upstream, "anthropic").url
    created = httpx.post(f"{base}/api/runs", json={"content": "Tell me", "client_request_id": uuid.uuid4().hex})
    run, events = finish(base, created.json()["run_id"])
    assert (run["state"], run["text"]) == ("complete", FULL[:200])
    assert events[-1][2]["tokens"] == estimate_tokens(40) + 12
    assert run["attempts"][-1]["usage_tokens"] == 12


def test_the_daily_budget_truncates_while_streaming_then_refuses_before_the_upstream(api_against, upstream):
    budget = 30
    upstream.set_script(Answer(text=FULL, chunk_chars=CHUNK))
    base = api_against(upstream, daily_token_budget=budget).url
    first = httpx.post(f"{base}/api/runs", json={"content": "Tell me", "client_request_id": uuid.uuid4().hex})
    run, events = finish(base, first.json()["run_id"])
    assert (run["state"], run["text"]) == ("truncated", FULL[: budget * CHARS_PER_TOKEN])
    assert events[-1][2]["detail"] == "Reached today's token budget; Continue works again after 00:00 UTC"
    calls = len(upstream.calls)
    for refused in (
        httpx.post(f"{base}/api/runs", json={"content": "More", "client_request_id": uuid.uuid4().hex}),
        httpx.post(f"{base}/api/runs/{run['run_id']}/continue"),
        httpx.post(f"{base}/api/runs/{run['run_id']}/retry"),
    ):
        assert refused.status_code == 429
        assert refused.json()["error"]["code"] == "token_budget"
        assert "token budget (30 tokens) is used up" in refused.json()["error"]["message"]
        assert 0 < int(refused.headers["Retry-After"]) <= 86400
    assert len(upstream.calls) == calls  # refused before anything went upstream


def test_what_is_left_of_the_budget_caps_the_next_answer(api_against, upstream):
    upstream.set_script(Answer(text=FULL[:40], chunk_chars=CHUNK), Answer(text=FULL, chunk_chars=CHUNK))
    base = api_against(upstream, daily_token_budget=30).url
    first = httpx.post(f"{base}/api/runs", json={"content": "Short", "client_request_id": uuid.uuid4().hex})
    assert finish(base, first.json()["run_id"])[0]["state"] == "complete"  # 10 tokens used
    second = httpx.post(f"{base}/api/runs", json={"content": "Long", "client_request_id": uuid.uuid4().hex})
    run, _ = finish(base, second.json()["run_id"])
    assert (run["state"], run["text"]) == ("truncated", FULL[: 20 * CHARS_PER_TOKEN])
