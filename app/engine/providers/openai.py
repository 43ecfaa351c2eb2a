"""OpenAI-compatible Chat Completions streaming (OpenAI, vLLM, llama.cpp, LM Studio, Ollama /v1 …).

``build_payload`` and ``parse_chunk`` are pure; ``OpenAIProvider.stream`` is the thin I/O
around them: POST with ``stream: true``, decode the SSE body incrementally, and yield a
``StreamEnd`` only on ``[DONE]`` or a ``finish_reason``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from urllib.parse import urlsplit

import httpx

from app.engine.errors import BadRequest, ServerError, from_httpx, from_status, redact
from app.engine.providers.base import ChatRequest, Provider, StreamEnd, StreamItem, TextDelta
from app.engine.retry import retry_after_s
from app.engine.sse import SSEDecoder

DONE = "[DONE]"
_ERROR_BODY_BYTES = 8192


def build_payload(request: ChatRequest) -> dict:
    payload: dict = {
        "model": request.model,
        "messages": [{"role": m.role, "content": m.content} for m in request.messages],
        "stream": True,
    }
    if request.max_tokens is not None:
        payload["max_tokens"] = request.max_tokens
    return payload


def parse_chunk(data: str, provider: str) -> tuple[list[TextDelta], str | None]:
    """One ``data:`` payload → its text deltas and the ``finish_reason`` it carries, if any."""
    try:
        chunk = json.loads(data)
    except json.JSONDecodeError:
        raise BadRequest(f"{provider} sent a malformed chunk", provider=provider) from None
    if not isinstance(chunk, dict):
        raise BadRequest(f"{provider} sent a malformed chunk", provider=provider)
    if "error" in chunk:
        error = chunk["error"]
        message = error.get("message") if isinstance(error, dict) else str(error)
        raise ServerError(f"{provider} reported an error mid-answer: {redact(str(message))[:300]}", provider=provider)
    deltas, finish_reason = [], None
    for choice in chunk.get("choices") or []:
        content = (choice.get("delta") or {}).get("content")
        if content:
            deltas.append(TextDelta(content))
        finish_reason = choice.get("finish_reason") or finish_reason
    return deltas, finish_reason


class OpenAIProvider(Provider):
    name = "openai"

    def __init__(self, client: httpx.AsyncClient, base_url: str, api_key: str | None, default_model: str) -> None:
        self._client = client
        self._url = base_url.rstrip("/") + "/chat/completions"
        self._api_key = api_key
        self.default_model = default_model
        self.label = f"OpenAI-compatible ({urlsplit(base_url).netloc or base_url})"

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamItem]:
        headers = {"Accept": "text/event-stream"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        try:
            async with self._client.stream("POST", self._url, json=build_payload(request), headers=headers) as response:
                if response.status_code != 200:
                    raise await self._status_error(response)
                async for item in self._items(response):
                    yield item
        except httpx.HTTPError as exc:
            raise from_httpx(self.name, exc) from None

    async def _items(self, response: httpx.Response) -> AsyncIterator[StreamItem]:
        decoder = SSEDecoder()
        finish_reason = None
        async for chunk in response.aiter_raw():
            for message in decoder.feed(chunk):
                if message.data == DONE:
                    yield StreamEnd(finish_reason or "stop")
                    return
                deltas, reason = parse_chunk(message.data, self.name)
                finish_reason = reason or finish_reason
                for delta in deltas:
                    yield delta
        if finish_reason is not None:
            yield StreamEnd(finish_reason)

    async def _status_error(self, response: httpx.Response):
        body = b""
        async for chunk in response.aiter_raw():
            body += chunk
            if len(body) >= _ERROR_BODY_BYTES:
                break
        retry_after = retry_after_s(response.status_code, response.headers, datetime.now(UTC))
        text = body.decode(errors="replace")
        return from_status(self.name, response.status_code, text, retry_after, secrets=[self._api_key])
