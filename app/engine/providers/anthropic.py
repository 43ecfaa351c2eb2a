"""Anthropic Messages streaming (https://docs.anthropic.com/en/api/messages-streaming).

``build_payload`` and ``EventParser`` are pure; ``AnthropicProvider`` is the thin I/O around
them (a ``wire.StreamingHTTPProvider`` reading SSE). Text arrives in ``content_block_delta`` events of type
``text_delta``; the stop reason in the ``message_delta`` near the end (``end_turn`` and
``stop_sequence`` → ``"stop"``, ``max_tokens`` → ``"length"``, others kept as Anthropic's own
word); and the answer is finished only at ``message_stop``, the one event that yields
``StreamEnd``. ``ping`` and event types this module does not know are ignored. An in-stream
``error`` event raises by its ``error.type``: ``overloaded_error`` → ``Overloaded`` (the
common one, retried), ``rate_limit_error`` → ``RateLimited``, auth and request errors →
permanent errors, anything else → ``ServerError``.

Continuation uses native prefill: the partial answer goes last, as an assistant turn, and
the model writes on from its final character. Anthropic rejects a final assistant turn that
ends in whitespace, so the prefill is sent with trailing whitespace stripped (and not at all
if nothing else is left). The continuation then usually begins with whitespace the caller's
prefix already ends with; the caller's seam-overlap removal drops it.
"""

from __future__ import annotations

from collections.abc import Callable

from app.engine.errors import (
    AuthError,
    BadRequest,
    Overloaded,
    QuotaExceeded,
    RateLimited,
    ServerError,
    UpstreamError,
    redact,
)
from app.engine.providers.base import ChatRequest, StreamEnd, StreamItem, TextDelta, usage_of
from app.engine.providers.wire import StreamingHTTPProvider, as_object, json_object, sse_frames
from app.engine.sse import SSEMessage

API_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 4096  # Anthropic requires max_tokens; used when the request has none
ANTHROPIC_MAX_TEMPERATURE = 1.0  # Anthropic's range is 0–1 where OpenAI's is 0–2
STOP_REASONS = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length"}
ERROR_TYPES: dict[str, type[UpstreamError]] = {
    "overloaded_error": Overloaded,
    "rate_limit_error": RateLimited,
    "api_error": ServerError,
    "authentication_error": AuthError,
    "permission_error": AuthError,
    "billing_error": QuotaExceeded,
    "invalid_request_error": BadRequest,
    "not_found_error": BadRequest,
    "request_too_large": BadRequest,
}


def build_payload(request: ChatRequest) -> dict:
    """System messages become the top-level ``system``; the prefix, if any, the last turn."""
    system = "\n\n".join(m.content for m in request.messages if m.role == "system")
    messages = [{"role": m.role, "content": m.content} for m in request.messages if m.role in ("user", "assistant")]
    prefill = request.prefix.rstrip()
    if prefill:
        messages.append({"role": "assistant", "content": prefill})
    payload: dict = {
        "model": request.model,
        "max_tokens": request.max_tokens if request.max_tokens is not None else DEFAULT_MAX_TOKENS,
        "messages": messages,
        "stream": True,
    }
    if system:
        payload["system"] = system
    if request.temperature is not None:
        payload["temperature"] = min(request.temperature, ANTHROPIC_MAX_TEMPERATURE)
    return payload


class EventParser:
    """One stream's events in order → its items; remembers the stop reason until ``message_stop``."""

    def __init__(self, provider: str) -> None:
        self._provider = provider
        self._stop_reason: str | None = None

    def feed(self, event_name: str, data: str) -> list[StreamItem]:
        event = json_object(data, self._provider)
        kind = event.get("type") or event_name
        if kind == "content_block_delta":
            delta = as_object(event.get("delta"))
            text = delta.get("text") if delta.get("type") == "text_delta" else None
            return [TextDelta(text)] if text and isinstance(text, str) else []
        if kind == "message_delta":
            self._stop_reason = as_object(event.get("delta")).get("stop_reason") or self._stop_reason
            return usage_of(as_object(event.get("usage")).get("output_tokens"))
        if kind == "message_stop":
            return [StreamEnd(STOP_REASONS.get(self._stop_reason or "end_turn", self._stop_reason))]
        if kind == "error":
            raise error_of(as_object(event.get("error")), self._provider)
        return []  # message_start, content_block_start/stop, ping, and types added later


def error_of(error: dict, provider: str) -> UpstreamError:
    """Anthropic's error object → the error its ``type`` names (``ServerError`` for others)."""
    error_type = str(error.get("type") or "error")
    message = redact(str(error.get("message") or error_type))[:300]
    error_class = ERROR_TYPES.get(error_type, ServerError)
    return error_class(f"{provider} reported {error_type} mid-answer: {message}", provider=provider)


def parse_whole(body: dict, provider: str) -> list[StreamItem]:
    """A non-streamed message → its text blocks joined, then the end (its stop reason mapped)."""
    if body.get("type") == "error":
        raise error_of(as_object(body.get("error")), provider)
    blocks = [as_object(block) for block in body.get("content") or []]
    text = "".join(b["text"] for b in blocks if b.get("type") == "text" and isinstance(b.get("text"), str))
    items: list[StreamItem] = [TextDelta(text)] if text else []
    items += usage_of(as_object(body.get("usage")).get("output_tokens"))
    stop_reason = body.get("stop_reason")
    if stop_reason:
        items.append(StreamEnd(STOP_REASONS.get(stop_reason, stop_reason)))
    return items


class AnthropicProvider(StreamingHTTPProvider):
    name = "anthropic"
    path = "/v1/messages"
    brand = "Anthropic"
    frames = staticmethod(sse_frames)

    def payload(self, request: ChatRequest) -> dict:
        return build_payload(request)

    def headers(self) -> dict[str, str]:
        headers = {"anthropic-version": API_VERSION, "accept": "text/event-stream"}
        if self._api_key:
            headers["x-api-key"] = self._api_key
        return headers

    def parser(self) -> Callable[[SSEMessage], list[StreamItem]]:
        events = EventParser(self.name)
        return lambda message: events.feed(message.event, message.data)

    def parse_whole(self, body: dict) -> list[StreamItem]:
        return parse_whole(body, self.name)
