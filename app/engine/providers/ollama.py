"""Ollama's native chat API, streamed as NDJSON.

See https://github.com/ollama/ollama/blob/main/docs/api.md#generate-a-chat-completion.

``build_payload`` and ``parse_line`` are pure; ``OllamaProvider.stream`` is the thin I/O
around them (``wire.stream_items`` with ``wire.ndjson_frames``). Each line is one JSON
object: ``{"message": {"content": …}, "done": false}`` carries text, and the line with
``"done": true`` is the end marker, its ``done_reason`` the finish reason (``"length"`` when
``num_predict`` cut the answer). An ``{"error": …}`` line raises ``ServerError`` (retried: it
is usually the model runner crashing or running out of memory); a line that is not a JSON
object raises ``BadRequest``.

Ollama has no prefill, so a continuation is asked for in words (``continuation``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import httpx

from app.engine.errors import ServerError, redact
from app.engine.providers.base import ChatRequest, Provider, StreamEnd, StreamItem, TextDelta
from app.engine.providers.continuation import messages_with_continuation
from app.engine.providers.wire import json_object, ndjson_frames, stream_items


def build_payload(request: ChatRequest) -> dict:
    payload: dict = {"model": request.model, "messages": messages_with_continuation(request), "stream": True}
    if request.max_tokens is not None:
        payload["options"] = {"num_predict": request.max_tokens}
    return payload


def parse_line(line: str, provider: str) -> list[StreamItem]:
    """One NDJSON line → its text delta and, on the ``done`` line, the ``StreamEnd``."""
    chunk = json_object(line, provider)
    if "error" in chunk:
        raise ServerError(f"{provider} reported an error mid-answer: {redact(str(chunk['error']))[:300]}",
                          provider=provider)
    items: list[StreamItem] = []
    message = chunk.get("message")
    content = message.get("content") if isinstance(message, dict) else None
    if content and isinstance(content, str):
        items.append(TextDelta(content))
    if chunk.get("done") is True:
        items.append(StreamEnd(chunk.get("done_reason") or "stop"))
    return items


class OllamaProvider(Provider):
    name = "ollama"

    def __init__(self, client: httpx.AsyncClient, host: str, default_model: str) -> None:
        self._client = client
        self._url = host.rstrip("/") + "/api/chat"
        self.default_model = default_model
        self.label = f"Ollama ({urlsplit(host).netloc or host})"

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamItem]:
        async for item in stream_items(
            self._client,
            self.name,
            self._url,
            payload=build_payload(request),
            headers={"accept": "application/x-ndjson"},
            secrets=[],
            frames=ndjson_frames,
            parse=lambda line: parse_line(line, self.name),
        ):
            yield item
