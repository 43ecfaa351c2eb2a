"""A lean HTTP/1.1 streaming client for the benchmark (raw asyncio, no httpx).

The same reader serves both sides of every comparison: the fake upstream read directly and
the app's event stream. It notes when each piece of the body arrives and hands it to a
counter; the counters are cheap so that the client is not what is measured.

``UpstreamTokens`` counts the fake's OpenAI chunks (one per token) without parsing JSON;
``AppTokens`` parses the app's SSE events (``delta`` / ``end``) with the engine's decoder
and counts tokens from characters (every fake token is ``TOKEN_CHARS`` long).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections.abc import Awaitable, Callable

from app.engine.sse import SSEDecoder
from bench.upstream import TOKEN_CHARS

HOST = "127.0.0.1"
_CONTENT = b'"content":"'


@dataclasses.dataclass
class Arrivals:
    """Tokens received so far: ``marks`` holds ``(time, tokens so far)`` at each read that added some."""

    started: float
    tokens: int = 0
    first_event_at: float | None = None
    ended: bool = False
    marks: list[tuple[float, int]] = dataclasses.field(default_factory=list)

    def add(self, now: float, tokens: int) -> None:
        if tokens:
            self.tokens += tokens
            self.marks.append((now, self.tokens))

    @property
    def last_at(self) -> float:
        return self.marks[-1][0] if self.marks else self.started


class UpstreamTokens:
    """Counts the fake upstream's chunks: one ``"content":"`` per token."""

    def __init__(self, arrivals: Arrivals) -> None:
        self.arrivals = arrivals
        self._tail = b""

    def feed(self, now: float, data: bytes) -> None:
        data = self._tail + data
        cut = data.rfind(b"\n\n") + 2
        complete, self._tail = data[:cut], data[cut:]
        count = complete.count(_CONTENT)
        if count and self.arrivals.first_event_at is None:
            self.arrivals.first_event_at = now
        self.arrivals.add(now, count)
        if b"[DONE]" in complete:
            self.arrivals.ended = True


class AppTokens:
    """Parses the app's event stream; any log event (not a ping) counts as the first event."""

    def __init__(self, arrivals: Arrivals) -> None:
        self.arrivals = arrivals
        self._decoder = SSEDecoder()
        self.events = 0
        self.last_event_id = ""

    def feed(self, now: float, data: bytes) -> None:
        chars = 0
        for message in self._decoder.feed(data):
            if message.event == "ping":
                continue
            self.events += 1
            self.last_event_id = message.last_event_id
            if self.arrivals.first_event_at is None:
                self.arrivals.first_event_at = now
            if message.event == "delta":
                chars += len(json.loads(message.data)["text"])
            elif message.event == "end":
                self.arrivals.ended = True
        self.arrivals.add(now, chars // TOKEN_CHARS)


def _request(method: str, path: str, port: int, headers: dict[str, str], body: bytes) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"host: {HOST}:{port}", f"content-length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def stream(port: int, method: str, path: str, feed: Callable[[float, bytes], None], *,
                 headers: dict[str, str] | None = None, body: bytes = b"",
                 until: Callable[[], bool] = lambda: False) -> int:
    """Send one request and feed the decoded body to ``feed(now, bytes)`` as it arrives, until
    the body ends or ``until()`` is true. Returns the status code."""
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        writer.write(_request(method, path, port, headers or {}, body))
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        lowered = head.lower()
        if b"transfer-encoding: chunked" in lowered:
            await _read_chunked(reader, feed, until)
        else:
            length = _content_length(lowered)
            data = await reader.readexactly(length) if length else b""
            if data:
                feed(time.monotonic(), data)
        return status
    finally:
        writer.close()


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n"):
        if line.startswith(b"content-length:"):
            return int(line.split(b":")[1])
    return 0


async def _read_chunked(reader: asyncio.StreamReader, feed: Callable[[float, bytes], None],
                        until: Callable[[], bool]) -> None:
    """Decode a chunked body read by read: each ``read()`` becomes one ``feed`` call."""
    buffer = b""
    while not until():
        data = await reader.read(1 << 16)
        if not data:
            return
        buffer += data
        now = time.monotonic()
        out = []
        while True:
            line_end = buffer.find(b"\r\n")
            if line_end < 0:
                break
            size = int(buffer[:line_end].split(b";")[0], 16)
            if size == 0:
                if out:
                    feed(now, b"".join(out))
                return
            if len(buffer) < line_end + 2 + size + 2:
                break
            out.append(buffer[line_end + 2 : line_end + 2 + size])
            buffer = buffer[line_end + 2 + size + 2 :]
        if out:
            feed(now, b"".join(out))


async def request_json(port: int, method: str, path: str, payload: dict | None = None,
                       headers: dict[str, str] | None = None) -> tuple[int, dict]:
    """A plain JSON request on a fresh connection."""
    parts: list[bytes] = []
    body = json.dumps(payload).encode() if payload is not None else b""
    headers = {**(headers or {}), **({"content-type": "application/json"} if payload is not None else {})}
    status = await stream(port, method, path, lambda _now, data: parts.append(data), headers=headers, body=body)
    raw = b"".join(parts)
    return status, (json.loads(raw) if raw else {})


def spec(tokens: int, rate_per_s: float, stream_id: str) -> str:
    """The question that tells the fake upstream what to stream."""
    return f"bench tokens={tokens} rate={rate_per_s:g} id={stream_id}"


async def read_direct(port: int, tokens: int, rate_per_s: float, stream_id: str) -> Arrivals:
    """Ask the fake upstream directly, as the app would, and count what arrives."""
    body = json.dumps({
        "model": "bench", "stream": True,
        "messages": [{"role": "user", "content": spec(tokens, rate_per_s, stream_id)}],
    }).encode()
    arrivals = Arrivals(started=time.monotonic())
    counter = UpstreamTokens(arrivals)
    await stream(port, "POST", "/v1/chat/completions", counter.feed, body=body,
                 headers={"content-type": "application/json"})
    return arrivals


async def start_run(port: int, tokens: int, rate_per_s: float, stream_id: str,
                    headers: dict[str, str] | None = None) -> str:
    status, created = await request_json(port, "POST", "/api/runs", {
        "content": spec(tokens, rate_per_s, stream_id), "client_request_id": stream_id,
    }, headers)
    if status not in (200, 201):
        raise RuntimeError(f"POST /api/runs answered {status}: {created}")
    return created["run_id"]


async def read_run(port: int, run_id: str, arrivals: Arrivals, last_event_id: str | None = None,
                   headers: dict[str, str] | None = None) -> AppTokens:
    """Follow a run's event stream to its end."""
    counter = AppTokens(arrivals)
    headers = {**(headers or {}), **({"last-event-id": last_event_id} if last_event_id is not None else {})}
    status = await stream(port, "GET", f"/api/runs/{run_id}/events", counter.feed, headers=headers,
                          until=lambda: arrivals.ended)
    if status != 200:
        raise RuntimeError(f"GET events answered {status}")
    return counter


async def read_through_app(port: int, tokens: int, rate_per_s: float, stream_id: str,
                           headers: dict[str, str] | None = None) -> Arrivals:
    """The full path: POST the run, then follow its events to the end (both requests with
    ``headers``, e.g. a login proxy's user header)."""
    arrivals = Arrivals(started=time.monotonic())
    run_id = await start_run(port, tokens, rate_per_s, stream_id, headers)
    await read_run(port, run_id, arrivals, headers=headers)
    return arrivals


async def read_metrics(port: int, headers: dict[str, str] | None = None) -> dict[str, float]:
    """The app's ``/metrics`` samples without labels, by name (e.g. a histogram's ``_count``)."""
    parts: list[bytes] = []
    status = await stream(port, "GET", "/metrics", lambda _now, data: parts.append(data), headers=headers)
    if status != 200:
        raise RuntimeError(f"GET /metrics answered {status}")
    samples = {}
    for line in b"".join(parts).decode().splitlines():
        name, _, value = line.partition(" ")
        if line and not line.startswith("#") and "{" not in name:
            samples[name] = float(value)
    return samples


def commits_reader(app_port: int) -> Callable[[], Awaitable[float]]:
    """A coroutine function returning the app's event-log commits so far (from ``/metrics``)."""

    async def commits() -> float:
        return (await read_metrics(app_port))["unbroken_log_commit_events_count"]

    return commits
