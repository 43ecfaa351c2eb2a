"""OpenAI Responses API streaming (https://platform.openai.com/docs/api-reference/responses-streaming).

``build_payload`` and ``parse_event`` are pure; ``OpenAIResponsesProvider`` is the thin I/O
around them (a ``wire.StreamingHTTPProvider`` reading SSE). Events are told apart by their ``type`` (the SSE
``event:`` name when a payload lacks one). Text arrives in ``response.output_text.delta``;
``response.completed`` ends the answer (``"stop"``), and ``response.incomplete`` ends it as
``"length"`` when the reason is ``max_output_tokens`` — any other reason (a content filter)
raises ``IncompleteStream``. ``response.failed`` and the ``error`` event raise by their
code: a rate limit → ``RateLimited``, a used-up quota → ``QuotaExceeded``, else
``ServerError``. All other events (``response.created``, ``…output_item.added``, …) are
ignored.

The Responses API has no prefill, so a continuation is asked for in words (``continuation``).
"""

from __future__ import annotations

import json
from collections.abc import Callable

from app.engine.errors import IncompleteStream, QuotaExceeded, RateLimited, ServerError, UpstreamError, redact
from app.engine.providers.base import ChatRequest, StreamEnd, StreamItem, TextDelta, usage_of
from app.engine.providers.continuation import messages_with_continuation
from app.engine.providers.openai import OpenAIProvider
from app.engine.providers.wire import as_object, json_object
from app.engine.sse import SSEMessage


def build_payload(request: ChatRequest) -> dict:
    payload: dict = {"model": request.model, "input": messages_with_continuation(request), "stream": True}
    if request.max_tokens is not None:
        payload["max_output_tokens"] = request.max_tokens
    if request.temperature is not None:
        payload["temperature"] = request.temperature
    return payload


def parse_event(event_name: str, data: str, provider: str) -> list[StreamItem]:
    """One SSE message → its text delta or ``StreamEnd``; raises on failure events."""
    event = json_object(data, provider)
    kind = event.get("type") or event_name
    if kind == "response.output_text.delta":
        delta = event.get("delta")
        return [TextDelta(delta)] if delta and isinstance(delta, str) else []
    response = as_object(event.get("response"))
    usage = usage_of(as_object(response.get("usage")).get("output_tokens"))
    if kind == "response.completed":
        return [*usage, StreamEnd("stop")]
    if kind == "response.incomplete":
        reason = as_object(response.get("incomplete_details")).get("reason")
        if reason == "max_output_tokens":
            return [*usage, StreamEnd("length")]
        raise IncompleteStream(f"{provider} stopped the answer early ({reason or 'no reason given'})",
                               provider=provider)
    if kind == "response.failed":
        raise _error(as_object(response.get("error")), provider)
    if kind == "error":
        raise _error(as_object(event.get("error")) or event, provider)
    return []


def parse_whole(body: dict, provider: str) -> list[StreamItem]:
    """A non-streamed response → the text of its message items, then the end its status gives."""
    status = body.get("status")
    if status == "failed" or body.get("error"):
        raise _error(as_object(body.get("error")), provider)
    text = "".join(
        part["text"]
        for item in body.get("output") or [] if as_object(item).get("type") == "message"
        for part in map(as_object, item.get("content") or [])
        if part.get("type") == "output_text" and isinstance(part.get("text"), str)
    )
    items: list[StreamItem] = [TextDelta(text)] if text else []
    if status == "completed":
        items += usage_of(as_object(body.get("usage")).get("output_tokens"))
        items.append(StreamEnd("stop"))
    elif status == "incomplete":
        items += parse_event("response.incomplete", json.dumps({"response": body}), provider)
    return items


def _error(error: dict, provider: str) -> UpstreamError:
    code = str(error.get("code") or error.get("type") or "error")
    message = redact(str(error.get("message") or code))[:300]
    error_class = ServerError
    if "rate_limit" in code:
        error_class = RateLimited
    elif "insufficient_quota" in code:
        error_class = QuotaExceeded
    return error_class(f"{provider} reported {code} mid-answer: {message}", provider=provider)


class OpenAIResponsesProvider(OpenAIProvider):
    """Same key and SSE framing as Chat Completions; another endpoint, body and events."""

    name = "openai-responses"
    path = "/responses"
    brand = "OpenAI Responses"

    def payload(self, request: ChatRequest) -> dict:
        return build_payload(request)

    def parser(self) -> Callable[[SSEMessage], list[StreamItem]]:
        return lambda message: parse_event(message.event, message.data, self.name)

    def parse_whole(self, body: dict) -> list[StreamItem]:
        return parse_whole(body, self.name)
