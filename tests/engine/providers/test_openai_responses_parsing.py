"""OpenAI Responses API: the payload we send and the events we read, without a network."""

from __future__ import annotations

import json

import pytest

from app.engine.errors import BadRequest, IncompleteStream, QuotaExceeded, RateLimited, ServerError
from app.engine.providers.base import ChatMessage, ChatRequest, StreamEnd, TextDelta
from app.engine.providers.continuation import CONTINUE_INSTRUCTION
from app.engine.providers.openai_responses import build_payload, parse_event


def parse(event: dict | str, event_name: str | None = None) -> list:
    data = event if isinstance(event, str) else json.dumps(event)
    name = event_name if event_name is not None else (event.get("type", "") if isinstance(event, dict) else "")
    return parse_event(name, data, "openai-responses")


def ended(kind: str, **response) -> dict:
    return {"type": kind, "response": {"id": "resp_1", "status": kind.split(".")[1], **response}}


@pytest.mark.parametrize(
    "event, expected",
    [
        ({"type": "response.output_text.delta", "item_id": "msg_1", "delta": "Hel"}, [TextDelta("Hel")]),
        ({"type": "response.output_text.delta", "delta": ""}, []),
        (ended("response.completed"), [StreamEnd("stop")]),
        (ended("response.incomplete", incomplete_details={"reason": "max_output_tokens"}), [StreamEnd("length")]),
        ({"type": "response.created", "response": {"status": "in_progress"}}, []),
        ({"type": "response.output_item.added", "item": {}}, []),
        ({"type": "response.output_text.done", "text": "Hello"}, []),  # the whole text again: not a delta
        ({"type": "response.reasoning_summary_text.delta", "delta": "thinking"}, []),
        ({"type": "a.future.event"}, []),
    ],
)
def test_events_become_text_and_one_end(event, expected):
    assert parse(event) == expected


def test_the_sse_event_name_stands_in_for_a_missing_type():
    assert parse({"delta": "hi"}, event_name="response.output_text.delta") == [TextDelta("hi")]


@pytest.mark.parametrize(
    "event, error_class, words",
    [
        (ended("response.incomplete", incomplete_details={"reason": "content_filter"}), IncompleteStream,
         "content_filter"),
        (ended("response.incomplete"), IncompleteStream, "no reason given"),
        (ended("response.failed", error={"code": "server_error", "message": "The model failed."}), ServerError,
         "The model failed."),
        (ended("response.failed", error={"code": "rate_limit_exceeded", "message": "Slow down."}), RateLimited,
         "Slow down."),
        (ended("response.failed"), ServerError, "error"),
        ({"type": "error", "code": "server_error", "message": "Boom."}, ServerError, "Boom."),
        ({"type": "error", "code": "rate_limit_exceeded", "message": "Too many."}, RateLimited, "Too many."),
        ({"type": "error", "code": "insufficient_quota", "message": "Pay up."}, QuotaExceeded, "Pay up."),
        ({"type": "error", "error": {"code": "server_error", "message": "Nested."}}, ServerError, "Nested."),
    ],
)
def test_failure_events_raise_the_right_error(event, error_class, words):
    with pytest.raises(error_class) as raised:
        parse(event)
    assert type(raised.value) is error_class
    assert words in raised.value.message


def test_an_error_event_never_quotes_a_key():
    with pytest.raises(ServerError) as raised:
        parse({"type": "error", "code": "server_error", "message": "bad key sk-proj-abcdefgh1234"})
    assert "sk-proj-abcdefgh1234" not in raised.value.message


@pytest.mark.parametrize("data", ['{"delta": ', "[]", '"x"'])
def test_a_malformed_event_is_a_bad_request(data):
    with pytest.raises(BadRequest, match="malformed chunk"):
        parse(data, event_name="response.output_text.delta")


def request(prefix: str = "", max_tokens: int | None = None) -> ChatRequest:
    return ChatRequest((ChatMessage("system", "Be brief."), ChatMessage("user", "Hi")), "gpt-x", max_tokens, prefix=prefix)


def test_payload_sends_the_conversation_as_input():
    assert build_payload(request()) == {
        "model": "gpt-x",
        "input": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
        "stream": True,
    }


def test_payload_passes_max_tokens_as_max_output_tokens():
    assert build_payload(request(max_tokens=64))["max_output_tokens"] == 64


def test_a_continuation_sends_the_partial_answer_then_asks_to_go_on():
    assert build_payload(request(prefix="Half of it "))["input"][-2:] == [
        {"role": "assistant", "content": "Half of it "},
        {"role": "user", "content": CONTINUE_INSTRUCTION},
    ]
