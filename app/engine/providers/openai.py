"""OpenAI-compatible Chat Completions streaming (OpenAI, vLLM, llama.cpp, LM Studio, Ollama /v1 …).

See https://platform.openai.com/docs/api-reference/chat-streaming.

``build_payload`` and ``parse_chunk`` are pure; ``OpenAIProvider.stream`` is the thin I/O
around them (``wire.StreamingHTTPProvider`` with ``wire.sse_frames``). The end marker is ``[DONE]``
or a chunk with a ``finish_reason`` (``"length"``: cut by ``max_tokens``). The final usage
chunk of ``stream_options.include_usage`` has empty ``choices`` and carries no text; an
``{"error": …}`` object inside the stream raises ``ServerError`` (retried).

Chat Completions has no prefill, so a continuation is asked for in words (``continuation``).
"""

from __future__ import annotations

from collections.abc import Callable

from app.engine.errors import ServerError, redact
from app.engine.providers.base import ChatRequest, StreamEnd, StreamItem, TextDelta, usage_of
from app.engine.providers.continuation import messages_with_continuation
from app.engine.providers.wire import StreamingHTTPProvider, as_object, json_object, sse_frames
from app.engine.sse import SSEMessage

DONE = "[DONE]"


def build_payload(request: ChatRequest) -> dict:
    payload: dict = {
        "model": request.model,
        "messages": messages_with_continuation(request),
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    if request.max_tokens is not None:
        payload["max_tokens"] = request.max_tokens
    if request.temperature is not None:
        payload["temperature"] = request.temperature
    return payload


def parse_chunk(data: str, provider: str) -> list[StreamItem]:
    """One ``data:`` payload → its text deltas, then a ``StreamEnd`` if it carries the end."""
    if data == DONE:
        return [StreamEnd("stop")]
    chunk = json_object(data, provider)
    if "error" in chunk:
        error = chunk["error"]
        message = as_object(error).get("message") or str(error)
        raise ServerError(f"{provider} reported an error mid-answer: {redact(str(message))[:300]}", provider=provider)
    items: list[StreamItem] = usage_of(as_object(chunk.get("usage")).get("completion_tokens"))
    finish_reason = None
    for choice in chunk.get("choices") or []:
        choice = as_object(choice)
        content = as_object(choice.get("delta")).get("content")
        if content and isinstance(content, str):
            items.append(TextDelta(content))
        finish_reason = choice.get("finish_reason") or finish_reason
    if finish_reason:
        items.append(StreamEnd(str(finish_reason)))
    return items


def parse_whole(body: dict, provider: str) -> list[StreamItem]:
    """A non-streamed completion → its text, then the end when it says why it stopped."""
    if "error" in body:
        message = as_object(body["error"]).get("message") or str(body["error"])
        raise ServerError(f"{provider} reported an error: {redact(str(message))[:300]}", provider=provider)
    choices = body.get("choices") or [{}]
    choice = as_object(choices[0])
    content = as_object(choice.get("message")).get("content")
    items: list[StreamItem] = [TextDelta(content)] if content and isinstance(content, str) else []
    items += usage_of(as_object(body.get("usage")).get("completion_tokens"))
    if choice.get("finish_reason"):
        items.append(StreamEnd(str(choice["finish_reason"])))
    return items


class OpenAIProvider(StreamingHTTPProvider):
    name = "openai"
    path = "/chat/completions"
    brand = "OpenAI-compatible"
    frames = staticmethod(sse_frames)

    def payload(self, request: ChatRequest) -> dict:
        return build_payload(request)

    def headers(self) -> dict[str, str]:
        headers = {"Accept": "text/event-stream"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        return headers

    def parser(self) -> Callable[[SSEMessage], list[StreamItem]]:
        return lambda message: parse_chunk(message.data, self.name)

    def parse_whole(self, body: dict) -> list[StreamItem]:
        return parse_whole(body, self.name)
