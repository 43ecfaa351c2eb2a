"""A fake LLM upstream: a real HTTP server on loopback with scripted answers and faults.

One server speaks four wire formats on their real paths (``tests/fakes/upstream_formats.py``):
``/v1/chat/completions`` (OpenAI chat), ``/v1/messages`` (Anthropic), ``/api/chat`` (Ollama
NDJSON) and ``/v1/responses`` (OpenAI Responses). Each request, whatever its path, takes the
next ``Answer`` from one script (the last one repeats). Tests read ``calls`` to assert how
often the upstream was asked, on which path and with what.

An answer's faults are counted in text chunks: "after N chunks" means once N pieces of the
text have been sent (0: before any). See ``Answer`` for what each fault sends. A request that
asks not to stream (``"stream": false``) gets the answer's whole text as JSON: the stream faults
do not apply to it, the HTTP errors and ``end_marker`` do.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import threading
from collections.abc import AsyncIterator, Iterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.fakes.server import ServerThread
from tests.fakes.upstream_formats import FORMATS


@dataclasses.dataclass
class Answer:
    text: str = "Hello from the fake upstream."
    chunk_chars: int = 4  # characters per chunk
    delay_s: float = 0.0  # pause before each chunk
    finish_reason: str | None = "stop"  # "length" → each format's truncation word; OpenAI: None sends none
    send_done: bool = True  # OpenAI chat only: the closing "data: [DONE]"
    end_marker: bool = True  # False: the body ends after the text, with no end marker in any format
    # Faults, counted in text chunks sent:
    drop_after_chunks: int | None = None  # the connection closes mid-body (chunked encoding not finished)
    stall_after_chunks: int | None = None  # silence for stall_s with the connection open, then go on
    stall_s: float = 0.0
    malformed_after_chunks: int | None = None  # one frame whose JSON is cut off, then go on
    error_event_after_chunks: int | None = None  # the format's in-stream error, then a clean end of body
    error_event: dict | None = None  # the error object sent; None: each format's usual one (Anthropic: overloaded)
    drip_bytes: int | None = None  # send the body in pieces of this many bytes
    drip_delay_s: float = 0.0  # pause after each piece
    # HTTP errors:
    status: int = 200
    error_body: dict | None = None  # None: the format's error JSON
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    echo_key_in_401: bool = False  # a 401's message quotes the key received (as some providers do)

    def chunks(self) -> list[str]:
        return [self.text[i : i + self.chunk_chars] for i in range(0, len(self.text), self.chunk_chars)]


class ScriptedDrop(Exception):
    """Raised inside the body: uvicorn then closes the socket without the last chunk of the
    chunked encoding, and httpx reports ``RemoteProtocolError`` (incomplete chunked read)."""


@dataclasses.dataclass(frozen=True)
class _Pause:
    seconds: float


class _QuietScriptedDrops(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], ScriptedDrop))


_QUIET_SCRIPTED_DROPS = _QuietScriptedDrops()


def _plan(fmt, answer: Answer, model: str) -> Iterator[bytes | _Pause]:
    """The body as frames and pauses, faults in place; raises ``ScriptedDrop`` where it is cut."""
    yield from fmt.opening(model)
    pieces = answer.chunks()
    for sent in range(len(pieces) + 1):
        if answer.drop_after_chunks == sent:
            raise ScriptedDrop(f"scripted drop after {sent} chunks")
        if answer.stall_after_chunks == sent:
            yield _Pause(answer.stall_s)
        if answer.malformed_after_chunks == sent:
            yield fmt.malformed
        if answer.error_event_after_chunks == sent:
            yield fmt.error_event(answer.error_event)
            return
        if sent < len(pieces):
            if answer.delay_s:
                yield _Pause(answer.delay_s)
            yield fmt.text(pieces[sent], model)
    if answer.end_marker:
        yield from fmt.ending(answer.finish_reason, answer.send_done, model)


async def _body(fmt, answer: Answer, model: str) -> AsyncIterator[bytes]:
    for step in _plan(fmt, answer, model):
        if isinstance(step, _Pause):
            await asyncio.sleep(step.seconds)
            continue
        size = answer.drip_bytes or len(step)
        for start in range(0, len(step), size):
            yield step[start : start + size]
            if answer.drip_bytes and answer.drip_delay_s:
                await asyncio.sleep(answer.drip_delay_s)


def _received_key(headers: dict[str, str]) -> str:
    return headers.get("x-api-key") or headers.get("authorization", "").removeprefix("Bearer ")


class FakeUpstream:
    def __init__(self, *answers: Answer) -> None:
        self.script = list(answers) or [Answer()]
        self.calls: list[dict] = []
        self._lock = threading.Lock()
        routes = [Route(fmt.path, self._endpoint(fmt), methods=["POST"]) for fmt in FORMATS]
        self._server = ServerThread(Starlette(routes=routes))

    @property
    def url(self) -> str:
        """The server root: Ollama's host, Anthropic's base URL."""
        return self._server.url

    @property
    def base_url(self) -> str:
        """The OpenAI-style base URL (chat completions and responses live under it)."""
        return f"{self._server.url}/v1"

    def set_script(self, *answers: Answer) -> None:
        with self._lock:
            self.script = list(answers)

    def __enter__(self) -> FakeUpstream:
        logging.getLogger("uvicorn.error").addFilter(_QUIET_SCRIPTED_DROPS)
        self._server.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._server.__exit__(*exc)

    def _next_answer(self, path: str, body: dict, headers: dict) -> Answer:
        with self._lock:
            self.calls.append({"path": path, "body": body, "headers": headers})
            return self.script.pop(0) if len(self.script) > 1 else self.script[0]

    def _endpoint(self, fmt):
        async def endpoint(request: Request) -> Response:
            body = await request.json()
            headers = dict(request.headers)
            answer = self._next_answer(request.url.path, body, headers)
            if answer.status != 200:
                message = "scripted failure"
                if answer.echo_key_in_401 and answer.status == 401:
                    message = f"Incorrect API key provided: {_received_key(headers)}"
                return JSONResponse(answer.error_body or fmt.error_body(answer.status, message),
                                    status_code=answer.status, headers=answer.headers)
            if body.get("stream") is False:  # a plain request: the whole answer at once, stream faults ignored
                if answer.delay_s:
                    await asyncio.sleep(answer.delay_s * len(answer.chunks()))
                finish_reason = answer.finish_reason if answer.end_marker else None
                return JSONResponse(fmt.whole(answer.text, finish_reason, answer.end_marker, body.get("model", "fake")),
                                    headers=answer.headers)
            return StreamingResponse(_body(fmt, answer, body.get("model", "fake")), media_type=fmt.media_type,
                                     headers=answer.headers)

        return endpoint
