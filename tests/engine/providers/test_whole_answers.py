"""Each wire format's plain (non-streamed) answer → the same items a stream would give: the
text, then the end only when the provider said the answer is finished."""

from __future__ import annotations

import pytest

from app.engine.errors import IncompleteStream, Overloaded, ServerError
from app.engine.providers import anthropic, ollama, openai, openai_responses
from app.engine.providers.base import StreamEnd, TextDelta
from tests.fakes.upstream_formats import AnthropicMessages, OllamaChat, OpenAIChat, OpenAIResponses

PARSERS = {
    "openai": (OpenAIChat(), openai.parse_whole),
    "anthropic": (AnthropicMessages(), anthropic.parse_whole),
    "ollama": (OllamaChat(), lambda body, name: ollama.parse_object(body, name)),
    "responses": (OpenAIResponses(), openai_responses.parse_whole),
}


@pytest.mark.parametrize("fmt", PARSERS)
@pytest.mark.parametrize(("finish_reason", "end"), [("stop", "stop"), ("length", "length")])
def test_a_whole_answer_gives_its_text_and_its_end(fmt, finish_reason, end):
    shape, parse = PARSERS[fmt]
    body = shape.whole("Hello, whole world.", finish_reason, True, "m")
    assert parse(body, fmt) == [TextDelta("Hello, whole world."), StreamEnd(end)]


@pytest.mark.parametrize("fmt", PARSERS)
def test_an_answer_that_does_not_say_it_is_finished_has_no_end(fmt):
    shape, parse = PARSERS[fmt]
    assert parse(shape.whole("Half an ans", None, False, "m"), fmt) == [TextDelta("Half an ans")]


@pytest.mark.parametrize(("parse", "body", "error"), [
    (openai.parse_whole, {"error": {"message": "boom"}}, ServerError),
    (anthropic.parse_whole, {"type": "error", "error": {"type": "overloaded_error", "message": "busy"}}, Overloaded),
    (openai_responses.parse_whole, {"status": "failed", "error": {"code": "server_error", "message": "x"}}, ServerError),
    (openai_responses.parse_whole,
     {"status": "incomplete", "incomplete_details": {"reason": "content_filter"}, "output": []}, IncompleteStream),
])
def test_an_error_in_a_whole_answer_raises_like_the_stream_would(parse, body, error):
    with pytest.raises(error):
        parse(body, "p")


def test_anthropic_joins_its_text_blocks_and_skips_others():
    body = {"content": [{"type": "text", "text": "one "}, {"type": "tool_use", "id": "t"}, {"type": "text", "text": "two"}],
            "stop_reason": "end_turn"}
    assert anthropic.parse_whole(body, "anthropic") == [TextDelta("one two"), StreamEnd("stop")]


def test_an_empty_or_odd_body_gives_nothing_rather_than_crashing():
    assert openai.parse_whole({"choices": []}, "openai") == []
    assert openai.parse_whole({"choices": ["odd"]}, "openai") == []
    assert openai_responses.parse_whole({"output": "odd"}, "r") == []
    assert anthropic.parse_whole({"content": None}, "anthropic") == []
