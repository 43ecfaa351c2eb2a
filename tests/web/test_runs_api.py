"""The runs API over a real socket: creating runs, idempotency and clear errors for bad input."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.fakes.upstream import Answer
from tests.sse_client import read_events

# Each also runs against three workers behind nginx (tests/conftest.py, [workers]).
pytestmark = pytest.mark.workers


def post_run(base: str, **body) -> httpx.Response:
    payload = {"content": "Hi there", "client_request_id": uuid.uuid4().hex, **body}
    return httpx.post(f"{base}/api/runs", json=payload, timeout=10)


def wait_for_end(base: str, run_id: str) -> dict:
    received = read_events(base, run_id)
    assert received.events[-1][1] == "end"
    return httpx.get(f"{base}/api/runs/{run_id}", timeout=10).json()


def test_a_run_streams_the_upstream_answer_to_completion(api_against, upstream):
    upstream.set_script(Answer(text="The quick brown fox jumps over the lazy dog."))
    base = api_against(upstream).url
    created = post_run(base, content="Tell me about foxes")
    assert created.status_code == 201
    body = created.json()
    assert set(body) == {"run_id", "conversation_id", "message_id", "events_url"}
    assert body["events_url"] == f"/api/runs/{body['run_id']}/events"
    run = wait_for_end(base, body["run_id"])
    assert run["state"] == "complete"
    assert run["text"] == "The quick brown fox jumps over the lazy dog."
    assert run["finish_reason"] == "stop"
    assert len(upstream.calls) == 1
    sent = upstream.calls[0]["body"]
    assert sent["stream"] is True
    assert sent["messages"][-1] == {"role": "user", "content": "Tell me about foxes"}
    assert upstream.calls[0]["headers"]["authorization"] == "Bearer sk-test-key"


def test_the_same_client_request_id_returns_the_same_run(api_against, upstream):
    base = api_against(upstream).url
    first = post_run(base, client_request_id="req-1")
    again = post_run(base, client_request_id="req-1")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    wait_for_end(base, first.json()["run_id"])
    assert len(upstream.calls) == 1


def test_a_resend_with_the_same_id_returns_the_run_even_without_its_content(api_against, upstream):
    base = api_against(upstream).url
    first = post_run(base, client_request_id="req-2")
    resend = post_run(base, client_request_id="req-2", content="")  # a double click after the form reset
    assert (first.status_code, resend.status_code) == (201, 200)
    assert resend.json()["run_id"] == first.json()["run_id"]
    wait_for_end(base, first.json()["run_id"])
    assert len(upstream.calls) == 1


def test_a_follow_up_in_the_same_conversation_sends_the_history(api_against, upstream):
    upstream.set_script(Answer(text="First answer."), Answer(text="Second answer."))
    base = api_against(upstream).url
    first = post_run(base, content="Question one").json()
    wait_for_end(base, first["run_id"])
    second = post_run(base, content="Question two", conversation_id=first["conversation_id"]).json()
    assert second["conversation_id"] == first["conversation_id"]
    wait_for_end(base, second["run_id"])
    assert upstream.calls[1]["body"]["messages"] == [
        {"role": "user", "content": "Question one"},
        {"role": "assistant", "content": "First answer."},
        {"role": "user", "content": "Question two"},
    ]


def test_a_stream_without_an_end_marker_never_ends_complete(api_against, upstream):
    upstream.set_script(Answer(text="Half an answer", finish_reason=None, send_done=False))
    base = api_against(upstream).url
    run = wait_for_end(base, post_run(base).json()["run_id"])
    assert run["state"] == "interrupted"
    assert run["text"] == "Half an answer"


def test_a_rejected_key_fails_with_words_and_without_the_key(api_against, upstream):
    upstream.set_script(Answer(status=401, error_body={"error": {"message": "Incorrect API key sk-test-key"}}))
    base = api_against(upstream).url
    run_id = post_run(base).json()["run_id"]
    run = wait_for_end(base, run_id)
    assert run["state"] == "failed"
    assert "API key was rejected" in run["attempts"][0]["error"]
    events = read_events(base, run_id, after="0").events
    assert "sk-test-key" not in repr(run) + repr(events)


@pytest.mark.parametrize(
    "body, status, code",
    [
        ({"content": ""}, 400, "empty_content"),
        ({"content": "   \n "}, 400, "empty_content"),
        ({"content": 42}, 400, "empty_content"),
        ({"client_request_id": ""}, 400, "bad_client_request_id"),
        ({"max_tokens": 0}, 400, "bad_max_tokens"),
        ({"max_tokens": "ten"}, 400, "bad_max_tokens"),
        ({"conversation_id": "no-such-conversation"}, 404, "not_found"),
        ({"content": "x" * 1_000_000}, 413, "request_too_large"),
    ],
)
def test_bad_input_gets_a_clear_error_and_changes_nothing(api_against, upstream, body, status, code):
    base = api_against(upstream).url
    response = post_run(base, **body)
    assert response.status_code == status
    error = response.json()["error"]
    assert error["code"] == code and error["message"]
    assert upstream.calls == []
    ok = post_run(base, content="still works")  # nothing half-created got in the way
    assert ok.status_code == 201


def test_a_body_that_is_not_json_is_refused(api_against, upstream):
    base = api_against(upstream).url
    response = httpx.post(f"{base}/api/runs", content=b"{not json", timeout=10)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_json"


def test_unknown_run_ids_answer_404_everywhere(api_against):
    base = api_against().url
    for method, path in [("GET", ""), ("GET", "/events"), ("POST", "/stop")]:
        response = httpx.request(method, f"{base}/api/runs/nope{path}", timeout=10)
        assert response.status_code == 404, path
        assert response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("value", ["abc", "-1", "1.5", "12345678901234567890", "7x"])
def test_a_malformed_resume_point_is_refused(api_against, value):
    base = api_against().url
    run_id = post_run(base).json()["run_id"]
    assert read_events(base, run_id, last_event_id=value).status == 400
    assert read_events(base, run_id, after=value).status == 400
    assert read_events(base, run_id, after="٣").status == 400  # a digit, but not an ASCII one
    wait_for_end(base, run_id)


def test_a_finished_run_answers_204_past_its_end(api_against):
    base = api_against().url
    run = wait_for_end(base, post_run(base).json()["run_id"])
    assert read_events(base, run["run_id"], last_event_id=str(run["last_seq"])).status == 204
    assert read_events(base, run["run_id"], after=str(run["last_seq"] + 5)).status == 204
    replay = read_events(base, run["run_id"], after=str(run["last_seq"] - 1))
    assert [kind for _, kind, _ in replay.events] == ["end"]


def test_the_stream_carries_the_contract_headers_and_a_ping_first(api_against):
    base = api_against().url
    run_id = post_run(base).json()["run_id"]
    with httpx.stream("GET", f"{base}/api/runs/{run_id}/events", headers={"Accept-Encoding": "gzip"}) as response:
        head = next(response.iter_raw())
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-cache"
        if response.headers.get("server", "").startswith("nginx"):  # [workers]: nginx obeyed it, and
            assert "x-accel-buffering" not in response.headers     # keeps it to itself
        else:
            assert response.headers["x-accel-buffering"] == "no"
        assert "content-encoding" not in response.headers
    assert head.startswith(b"retry: 100\n\nevent: ping\ndata: {}\n\n")


def test_retry_of_a_finished_run_answers_the_same_question_as_a_new_run(api_against, upstream):
    upstream.set_script(Answer(status=401), Answer(text="Better now."))
    base = api_against(upstream).url
    first = post_run(base, content="Try me").json()
    assert wait_for_end(base, first["run_id"])["state"] == "failed"
    retried = httpx.post(f"{base}/api/runs/{first['run_id']}/retry", timeout=10)
    assert retried.status_code == 201
    body = retried.json()
    assert body["run_id"] != first["run_id"] and body["conversation_id"] == first["conversation_id"]
    assert wait_for_end(base, body["run_id"])["text"] == "Better now."
    assert upstream.calls[1]["body"]["messages"] == [{"role": "user", "content": "Try me"}]


def test_retry_of_a_streaming_run_is_a_conflict(api_against, upstream):
    upstream.set_script(Answer(text="slow " * 40, delay_s=0.05))
    base = api_against(upstream).url
    run_id = post_run(base).json()["run_id"]
    response = httpx.post(f"{base}/api/runs/{run_id}/retry", timeout=10)
    assert (response.status_code, response.json()["error"]["code"]) == (409, "not_retryable")
    wait_for_end(base, run_id)


def test_a_nul_character_in_a_question_or_an_answer_is_stored_and_the_log_goes_on(api_against, upstream):
    # Postgres text cannot hold U+0000: the one commit of the event log must not fail on it.
    upstream.set_script(Answer(text="before\x00after"), Answer(text="Next answer."))
    base = api_against(upstream).url
    created = post_run(base, content="a pasted \x00 byte")
    assert created.status_code == 201, created.text
    run = wait_for_end(base, created.json()["run_id"])
    assert (run["state"], run["text"]) == ("complete", "before\x00after")  # the log keeps it exactly
    following = post_run(base, content="And then?", conversation_id=created.json()["conversation_id"])
    assert wait_for_end(base, following.json()["run_id"])["text"] == "Next answer."
