"""Ollama's native chat API: the payload we send and the NDJSON lines we read, without a network."""

from __future__ import annotations

import json

import pytest

from app.engine.errors import BadRequest, ServerError
from app.engine.providers.base import ChatMessage, ChatRequest, StreamEnd, TextDelta
from app.engine.providers.continuation import CONTINUE_INSTRUCTION
from app.engine.providers.ollama import build_payload, parse_line


def line(content: str | None = None, **fields) -> str:
    chunk = {"model": "llama3.2", "created_at": "2026-01-01T00:00:00Z", "done": False, **fields}
    if content is not None:
        chunk["message"] = {"role": "assistant", "content": content}
    return json.dumps(chunk)


@pytest.mark.parametrize(
    "data, expected",
    [
        (line("Hello"), [TextDelta("Hello")]),
        (line(""), []),
        (line(), []),
        (line("", done=True, done_reason="stop"), [StreamEnd("stop")]),
        (line("", done=True, done_reason="length"), [StreamEnd("length")]),
        (line("", done=True), [StreamEnd("stop")]),  # no done_reason: an old Ollama
        (line("end.", done=True, done_reason="stop"), [TextDelta("end."), StreamEnd("stop")]),
        (line("", done=True, done_reason="unload"), [StreamEnd("unload")]),  # Ollama's own word kept
        (line(message="not an object"), []),
        (line(done="true"), []),  # only the JSON true ends the answer
    ],
)
def test_lines_become_text_and_one_end_on_done(data, expected):
    assert parse_line(data, "ollama") == expected


def test_an_error_line_is_a_retryable_server_error_without_a_key():
    with pytest.raises(ServerError) as raised:
        parse_line('{"error": "model runner crashed near key-abcdef123456"}', "ollama")
    assert "model runner crashed" in raised.value.message
    assert "key-abcdef123456" not in raised.value.message


@pytest.mark.parametrize("data", ['{"message": {"content": ', "[]", "42", "null"])
def test_a_malformed_line_is_a_bad_request(data):
    with pytest.raises(BadRequest, match="malformed chunk"):
        parse_line(data, "ollama")


def request(prefix: str = "", max_tokens: int | None = None) -> ChatRequest:
    messages = (ChatMessage("system", "Be brief."), ChatMessage("user", "Hi"))
    return ChatRequest(messages, "llama3.2", max_tokens, prefix=prefix)


def test_payload_keeps_every_role_and_streams():
    assert build_payload(request()) == {
        "model": "llama3.2",
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
        "stream": True,
    }


def test_payload_passes_max_tokens_as_num_predict():
    assert build_payload(request(max_tokens=64))["options"] == {"num_predict": 64}


def test_a_continuation_sends_the_partial_answer_then_asks_to_go_on():
    messages = build_payload(request(prefix="Half of it "))["messages"]
    assert messages[-2:] == [
        {"role": "assistant", "content": "Half of it "},
        {"role": "user", "content": CONTINUE_INSTRUCTION},
    ]
