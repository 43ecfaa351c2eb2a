"""The HTTP side every streaming provider shares: POST, frame the body, stop at the end marker.

``StreamingHTTPProvider`` is the base of such providers: a subclass names its path, headers,
payload, body framing and parsers, and inherits the constructor, ``stream`` and
``whole_answer`` (the same request with ``"stream": false``, read by ``post_json``).

``stream_items`` is the whole I/O of a provider: it sends the request, turns a non-200 answer
into the error ``from_status`` picks (body quoted, shortened, redacted; the wait asked for by
``Retry-After`` or, on a 429, OpenAI's ``x-ratelimit-reset-*`` kept as ``retry_after_s``),
splits the body into frames (``sse_frames`` or ``ndjson_frames``) and hands each frame to the
provider's pure ``parse`` function. It returns right after the first
``StreamEnd``; a body that ends before one yields none, and the runner calls that incomplete.
Every failure leaves as an ``UpstreamError``: httpx exceptions through ``from_httpx``, a
runaway line as ``BadRequest``.

Bodies are read with ``aiter_bytes``, not ``aiter_raw``: both hand over data as it arrives,
but only the former undoes a ``Content-Encoding`` (a proxy that gzips the stream).
"""

from __future__ import annotations

import abc
import json
from collections.abc import AsyncIterator, Callable, Iterable
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx

from app.engine.errors import BadRequest, UpstreamError, from_httpx, from_status
from app.engine.ndjson import NDJSONLines, NDJSONLineTooLong
from app.engine.providers.base import ChatRequest, Provider, StreamEnd, StreamItem
from app.engine.retry import retry_after_s
from app.engine.sse import SSEDecoder, SSELineTooLong, SSEMessage

ERROR_BODY_BYTES = 8192

Frame = TypeVar("Frame")


class StreamingHTTPProvider(Provider):
    """One JSON POST to ``base_url + path``, one streamed answer read through ``stream_items``."""

    path: str  # appended to the base URL, e.g. "/v1/messages"
    brand: str  # the label's first words; the base URL's host follows
    frames: Callable[[httpx.Response], AsyncIterator[Any]]  # sse_frames or ndjson_frames, as a staticmethod
    answers_whole = True

    def __init__(self, client: httpx.AsyncClient, base_url: str, api_key: str | None, default_model: str) -> None:
        self._client = client
        self._url = base_url.rstrip("/") + self.path
        self._api_key = api_key
        self.default_model = default_model
        self.label = f"{self.brand} ({urlsplit(base_url).netloc or base_url})"

    @abc.abstractmethod
    def payload(self, request: ChatRequest) -> dict:
        """The JSON body, from the module's pure ``build_payload``."""

    @abc.abstractmethod
    def headers(self) -> dict[str, str]:
        """The request's headers besides the JSON content type (the key, when there is one)."""

    @abc.abstractmethod
    def parser(self) -> Callable[[Any], list[StreamItem]]:
        """A frame → items function for one answer (a fresh one each time: it may keep state)."""

    @abc.abstractmethod
    def parse_whole(self, body: dict) -> list[StreamItem]:
        """A plain (non-streamed) answer's JSON → its text and end, from the module's pure function."""

    async def whole_answer(self, request: ChatRequest) -> list[StreamItem]:
        payload = {**self.payload(request), "stream": False}
        payload.pop("stream_options", None)
        headers = {k: v for k, v in self.headers().items() if k.lower() != "accept"} | {"accept": "application/json"}
        body = await post_json(self._client, self.name, self._url, payload=payload, headers=headers,
                               secrets=[self._api_key])
        return self.parse_whole(body)

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamItem]:
        async for item in stream_items(
            self._client,
            self.name,
            self._url,
            payload=self.payload(request),
            headers=self.headers(),
            secrets=[self._api_key],
            frames=self.frames,
            parse=self.parser(),
        ):
            yield item


async def stream_items(
    client: httpx.AsyncClient,
    provider: str,
    url: str,
    *,
    payload: dict,
    headers: dict[str, str],
    secrets: Iterable[str | None],
    frames: Callable[[httpx.Response], AsyncIterator[Frame]],
    parse: Callable[[Frame], list[StreamItem]],
) -> AsyncIterator[StreamItem]:
    try:
        async with client.stream("POST", url, json=payload, headers=headers) as response:
            if response.status_code != 200:
                raise await status_error(provider, response, secrets)
            async for frame in frames(response):
                for item in parse(frame):
                    yield item
                    if isinstance(item, StreamEnd):
                        return
    except httpx.HTTPError as exc:
        raise from_httpx(provider, exc) from None
    except (SSELineTooLong, NDJSONLineTooLong) as exc:
        raise BadRequest(f"{provider} sent a malformed stream ({exc})", provider=provider) from None


async def post_json(
    client: httpx.AsyncClient, provider: str, url: str, *, payload: dict, headers: dict[str, str],
    secrets: Iterable[str | None],
) -> dict:
    """One plain JSON request → the answer's JSON object; failures as in ``stream_items``."""
    try:
        async with client.stream("POST", url, json=payload, headers=headers) as response:
            if response.status_code != 200:
                raise await status_error(provider, response, secrets)
            body = await response.aread()
    except httpx.HTTPError as exc:
        raise from_httpx(provider, exc) from None
    return json_object(body.decode(errors="replace"), provider)


async def sse_frames(response: httpx.Response) -> AsyncIterator[SSEMessage]:
    decoder = SSEDecoder()
    async for chunk in response.aiter_bytes():
        for message in decoder.feed(chunk):
            yield message
    for message in decoder.flush():
        yield message


async def ndjson_frames(response: httpx.Response) -> AsyncIterator[str]:
    splitter = NDJSONLines()
    async for chunk in response.aiter_bytes():
        for line in splitter.feed(chunk):
            yield line
    for line in splitter.flush():
        yield line


async def status_error(provider: str, response: httpx.Response, secrets: Iterable[str | None]) -> UpstreamError:
    body = b""
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) >= ERROR_BODY_BYTES:
            break
    retry_after = retry_after_s(response.status_code, response.headers, datetime.now(UTC))
    return from_status(provider, response.status_code, body.decode(errors="replace"), retry_after, secrets=secrets)


def json_object(data: str, provider: str) -> dict:
    """One frame's JSON object; anything else is a ``BadRequest`` (the stream is unusable)."""
    try:
        value = json.loads(data)
    except json.JSONDecodeError:
        raise BadRequest(f"{provider} sent a malformed chunk", provider=provider) from None
    if not isinstance(value, dict):
        raise BadRequest(f"{provider} sent a malformed chunk", provider=provider)
    return value


def as_object(value: object) -> dict:
    """A JSON field that should hold an object, or ``{}`` when it is missing or of another type."""
    return value if isinstance(value, dict) else {}
