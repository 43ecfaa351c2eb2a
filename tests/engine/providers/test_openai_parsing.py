"""OpenAI-compatible Chat Completions: payloads and chunk parsing, table-driven."""

from __future__ import annotations

import json

import pytest

from app.engine.errors import BadRequest, ServerError
from app.engine.providers.base import ChatMessage, ChatRequest, StreamEnd, TextDelta, Usage
from app.engine.providers.continuation import CONTINUE_INSTRUCTION
from app.engine.providers.openai import build_payload, parse_chunk


def chunk(content=None, finish_reason=None) -> str:
    delta = {} if content is None else {"content": content}
    return json.dumps({"choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}]})


@pytest.mark.parametrize(
    "data, items",
    [
        (chunk("Hel"), [TextDelta("Hel")]),
        (chunk(""), []),
        (json.dumps({"choices": [{"index": 0, "delta": {"role": "assistant"}}]}), []),
        (chunk(None, "stop"), [StreamEnd("stop")]),
        (chunk("last", "length"), [TextDelta("last"), StreamEnd("length")]),
        (json.dumps({"choices": [], "usage": {"completion_tokens": 9}}), [Usage(9)]),  # include_usage's final chunk
        ("[DONE]", [StreamEnd("stop")]),
    ],
)
def test_parse_chunk(data, items):
    assert parse_chunk(data, "openai") == items


@pytest.mark.parametrize(
    "data, error",
    [
        ('{"choices": [', BadRequest),
        ("[1, 2]", BadRequest),
        (json.dumps({"error": {"message": "The server had an error while processing your request."}}), ServerError),
    ],
)
def test_parse_chunk_errors(data, error):
    with pytest.raises(error):
        parse_chunk(data, "openai")


def test_an_error_object_never_repeats_a_key():
    data = json.dumps({"error": {"message": "bad key sk-abcdefghijklmnop"}})
    with pytest.raises(ServerError) as raised:
        parse_chunk(data, "openai")
    assert "sk-abcdefghijklmnop" not in raised.value.message


def test_payload_streams_with_usage_and_caps_tokens():
    request = ChatRequest(messages=(ChatMessage("user", "Hi"),), model="m", max_tokens=50)
    assert build_payload(request) == {
        "model": "m",
        "messages": [{"role": "user", "content": "Hi"}],
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": 50,
    }


def test_a_continuation_sends_the_partial_and_asks_to_go_on():
    request = ChatRequest(messages=(ChatMessage("user", "Hi"),), model="m", prefix="Hello, I was say")
    assert build_payload(request)["messages"][-2:] == [
        {"role": "assistant", "content": "Hello, I was say"},
        {"role": "user", "content": CONTINUE_INSTRUCTION},
    ]
