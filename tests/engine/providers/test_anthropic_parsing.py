"""Anthropic Messages: the payload we send and the events we read, without a network."""

from __future__ import annotations

import json

import pytest

from app.engine.errors import AuthError, BadRequest, Overloaded, QuotaExceeded, RateLimited, ServerError
from app.engine.providers.anthropic import DEFAULT_MAX_TOKENS, EventParser, build_payload
from app.engine.providers.base import ChatMessage, ChatRequest, StreamEnd, TextDelta

OPENING = [
    {"type": "message_start", "message": {"id": "msg_1", "role": "assistant", "content": []}},
    {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    {"type": "ping"},
]


def text(piece: str) -> dict:
    return {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}}


def stop(reason: str | None) -> list[dict]:
    return [
        {"type": "content_block_stop", "index": 0},
        {"type": "message_delta", "delta": {"stop_reason": reason, "stop_sequence": None}},
        {"type": "message_stop"},
    ]


def parse(*events: dict | str, event_name: str = "") -> list:
    parser = EventParser("anthropic")
    items = []
    for event in events:
        data = event if isinstance(event, str) else json.dumps(event)
        items.extend(parser.feed(event_name or (event.get("type", "") if isinstance(event, dict) else ""), data))
    return items


@pytest.mark.parametrize(
    "events, expected",
    [
        ([*OPENING, text("Hel"), text("lo"), *stop("end_turn")],
         [TextDelta("Hel"), TextDelta("lo"), StreamEnd("stop")]),
        ([text("a"), *stop("stop_sequence")], [TextDelta("a"), StreamEnd("stop")]),
        ([text("a"), *stop("max_tokens")], [TextDelta("a"), StreamEnd("length")]),
        ([text("a"), *stop("refusal")], [TextDelta("a"), StreamEnd("refusal")]),  # Anthropic's own word kept
        ([text("a"), {"type": "message_stop"}], [TextDelta("a"), StreamEnd("stop")]),  # no stop reason seen
        ([text("a"), *stop("max_tokens")[:2]], [TextDelta("a")]),  # no message_stop: not finished
        ([text("")], []),
        ([{"type": "content_block_delta", "delta": {"type": "input_json_delta", "partial_json": "{"}}], []),
        ([{"type": "content_block_delta", "delta": {"type": "thinking_delta", "thinking": "hmm"}}], []),
        ([{"type": "ping"}, {"type": "a_future_event", "x": 1}, {"type": "content_block_stop"}], []),
        ([{"type": "content_block_delta", "delta": "not an object"}], []),
    ],
)
def test_events_become_text_and_one_end_at_message_stop(events, expected):
    assert parse(*events) == expected


def test_the_sse_event_name_stands_in_for_a_missing_type():
    data = {"index": 0, "delta": {"type": "text_delta", "text": "hi"}}
    assert parse(data, event_name="content_block_delta") == [TextDelta("hi")]


@pytest.mark.parametrize(
    "error_type, error_class",
    [
        ("overloaded_error", Overloaded),
        ("rate_limit_error", RateLimited),
        ("api_error", ServerError),
        ("a_new_error", ServerError),
        ("authentication_error", AuthError),
        ("permission_error", AuthError),
        ("billing_error", QuotaExceeded),
        ("invalid_request_error", BadRequest),
    ],
)
def test_an_error_event_raises_by_its_type(error_type, error_class):
    with pytest.raises(error_class) as raised:
        parse(text("a"), {"type": "error", "error": {"type": error_type, "message": "Something happened"}})
    assert type(raised.value) is error_class
    assert error_type in raised.value.message and "Something happened" in raised.value.message
    assert raised.value.provider == "anthropic"


def test_an_error_event_never_quotes_a_key():
    error = {"type": "authentication_error", "message": "invalid x-api-key sk-ant-api03-abcdefgh123"}
    with pytest.raises(AuthError) as raised:
        parse({"type": "error", "error": error})
    assert "sk-ant-api03-abcdefgh123" not in raised.value.message


@pytest.mark.parametrize("data", ['{"type": "content_block_delta", "delta": ', "[1, 2]", '"text"', ""])
def test_a_malformed_event_is_a_bad_request(data):
    with pytest.raises(BadRequest, match="malformed chunk"):
        parse(data)


def request(*messages: tuple[str, str], prefix: str = "", max_tokens: int | None = None) -> ChatRequest:
    return ChatRequest(tuple(ChatMessage(r, c) for r, c in messages), "claude-x", max_tokens, prefix=prefix)


def test_payload_moves_system_messages_to_the_top_level_field():
    payload = build_payload(request(("system", "Be brief."), ("user", "Hi"), ("system", "Be kind."),
                                    ("assistant", "Hey"), ("user", "Tell me")))
    assert payload == {
        "model": "claude-x",
        "max_tokens": DEFAULT_MAX_TOKENS,
        "messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hey"},
                     {"role": "user", "content": "Tell me"}],
        "system": "Be brief.\n\nBe kind.",
        "stream": True,
    }


def test_payload_without_system_messages_has_no_system_field_and_keeps_max_tokens():
    payload = build_payload(request(("user", "Hi"), max_tokens=50))
    assert "system" not in payload
    assert payload["max_tokens"] == 50


@pytest.mark.parametrize(
    "prefix, last_message",
    [
        ("The answer is", {"role": "assistant", "content": "The answer is"}),
        ("The answer is \n", {"role": "assistant", "content": "The answer is"}),  # trailing whitespace refused
        ("  \n", {"role": "user", "content": "Hi"}),  # nothing left to prefill
        ("", {"role": "user", "content": "Hi"}),
    ],
)
def test_a_continuation_prefills_the_partial_answer_as_the_last_turn(prefix, last_message):
    payload = build_payload(request(("user", "Hi"), prefix=prefix))
    assert payload["messages"][-1] == last_message
    assert len(payload["messages"]) == (2 if last_message["role"] == "assistant" else 1)
