"""Ollama's native chat API, streamed as NDJSON.

See https://github.com/ollama/ollama/blob/main/docs/api.md#generate-a-chat-completion.

``build_payload`` and ``parse_line`` are pure; ``OllamaProvider`` is the thin I/O around them
(a ``wire.StreamingHTTPProvider`` reading NDJSON). Each line is one JSON object:
``{"message": {"content": …}, "done": false}`` carries text, and the line with
``"done": true`` is the end marker, its ``done_reason`` the finish reason (``"length"`` when
``num_predict`` cut the answer). An ``{"error": …}`` line raises ``ServerError`` (retried: it
is usually the model runner crashing or running out of memory); a line that is not a JSON
object raises ``BadRequest``.

Ollama has no prefill, so a continuation is asked for in words (``continuation``).
"""

from __future__ import annotations

from collections.abc import Callable

import httpx

from app.engine.errors import ServerError, redact
from app.engine.providers.base import ChatRequest, StreamEnd, StreamItem, TextDelta, usage_of
from app.engine.providers.continuation import messages_with_continuation
from app.engine.providers.wire import StreamingHTTPProvider, json_object, ndjson_frames


def build_payload(request: ChatRequest) -> dict:
    payload: dict = {"model": request.model, "messages": messages_with_continuation(request), "stream": True}
    options = {}
    if request.max_tokens is not None:
        options["num_predict"] = request.max_tokens
    if request.temperature is not None:
        options["temperature"] = request.temperature
    if options:
        payload["options"] = options
    return payload


def parse_line(line: str, provider: str) -> list[StreamItem]:
    """One NDJSON line → its text delta and, on the ``done`` line, the ``StreamEnd``."""
    return parse_object(json_object(line, provider), provider)


def parse_object(chunk: dict, provider: str) -> list[StreamItem]:
    """One answer object (a stream's line, or a whole non-streamed answer, which has the same shape)."""
    if "error" in chunk:
        raise ServerError(f"{provider} reported an error mid-answer: {redact(str(chunk['error']))[:300]}",
                          provider=provider)
    items: list[StreamItem] = []
    message = chunk.get("message")
    content = message.get("content") if isinstance(message, dict) else None
    if content and isinstance(content, str):
        items.append(TextDelta(content))
    if chunk.get("done") is True:
        items += usage_of(chunk.get("eval_count"))
        items.append(StreamEnd(chunk.get("done_reason") or "stop"))
    return items


class OllamaProvider(StreamingHTTPProvider):
    name = "ollama"
    path = "/api/chat"
    brand = "Ollama"
    frames = staticmethod(ndjson_frames)

    def __init__(self, client: httpx.AsyncClient, host: str, default_model: str) -> None:
        super().__init__(client, host, None, default_model)

    def payload(self, request: ChatRequest) -> dict:
        return build_payload(request)

    def headers(self) -> dict[str, str]:
        return {"accept": "application/x-ndjson"}

    def parser(self) -> Callable[[str], list[StreamItem]]:
        return lambda line: parse_line(line, self.name)

    def parse_whole(self, body: dict) -> list[StreamItem]:
        return parse_object(body, self.name)
