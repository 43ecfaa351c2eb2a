"""The upstream fallback against the fake upstream: streams that keep breaking while plain
requests work still give a complete answer, and the run's attempts say how it came."""

from __future__ import annotations

import httpx
import pytest

from tests.fakes.upstream import Answer
from tests.web.test_upstream_resilience import FORMATS, FULL, ask, finish

pytestmark = pytest.mark.workers


@pytest.mark.parametrize("provider", FORMATS)
def test_streams_that_always_break_fall_back_to_a_plain_request(api_against, upstream, provider):
    upstream.set_script(Answer(text=FULL, drop_after_chunks=0))  # every stream drops; plain requests work
    base = api_against(upstream, provider).url
    run, events = finish(base, ask(base))
    assert (run["state"], run["text"]) == ("complete", FULL)
    assert [call["body"].get("stream") for call in upstream.calls] == [True, True, False]
    broken, broken_again, plain = run["attempts"]
    assert (broken["outcome"], broken_again["outcome"], plain["outcome"]) == ("transport", "transport", "ok")
    assert "transport" not in broken and plain["transport"] == "plain"
    assert plain["fallback"] == "its streams failed 2 times in a row (transport)"
    name = {"responses": "openai-responses"}.get(provider, provider)
    assert events[-1][2]["detail"] == f"Came in one piece: {name} streams failed 2 times in a row (transport)"
    timeline = httpx.get(f"{base}/api/runs/{run['run_id']}/timeline").json()["entries"]
    assert [e.get("transport") for e in timeline if e["kind"] == "attempt"] == [None, None, "plain"]
    connecting = [data for _, kind, data in events if data.get("state") == "connecting"]
    assert "without streaming: its streams failed 2 times in a row" in connecting[-1]["detail"]


def test_a_plain_request_continues_a_partial_answer(api_against, upstream):
    upstream.set_script(
        Answer(text=FULL, chunk_chars=10, drop_after_chunks=5),  # 50 characters, then the stream drops
        Answer(text=FULL[50:], chunk_chars=10, drop_after_chunks=5),  # 50 more, dropped again
        Answer(text=FULL[100:]),  # asked plainly: the rest at once
    )
    base = api_against(upstream).url
    run, _ = finish(base, ask(base))
    assert (run["state"], run["text"]) == ("complete", FULL)
    assert upstream.calls[2]["body"]["stream"] is False
    assert FULL[:100].rstrip() in str(upstream.calls[2]["body"]["messages"])  # the partial went along
    assert run["attempts"][2]["continued_from_chars"] == 100


def test_the_provider_keeps_asking_plainly_for_a_while(api_against, upstream):
    upstream.set_script(Answer(text="Broken", drop_after_chunks=0), Answer(text="Broken", drop_after_chunks=0),
                        Answer(text="Plain one."), Answer(text="Plain two."))
    base = api_against(upstream).url  # streaming is tried again after UNBROKEN_STREAM_FALLBACK_S (unit-tested)
    first, _ = finish(base, ask(base, "one"))
    second, _ = finish(base, ask(base, "two"))  # within the hold: plain from its first attempt
    assert (first["text"], second["text"]) == ("Plain one.", "Plain two.")
    assert [a.get("transport") for a in second["attempts"]] == ["plain"]
    assert [call["body"]["stream"] for call in upstream.calls] == [True, True, False, False]


def test_streaming_can_be_turned_off(api_against, upstream):
    upstream.set_script(Answer(text="No stream needed."))
    base = api_against(upstream, upstream_streaming=False).url
    run, _ = finish(base, ask(base))
    assert (run["state"], run["text"]) == ("complete", "No stream needed.")
    assert [call["body"]["stream"] for call in upstream.calls] == [False]
    assert run["attempts"][0]["fallback"] == "streaming is turned off for this provider"
