"""Probes for the ``/diagnostics`` page: event streams with a known timing, and a count of the
event streams each caller holds open.

The page (assets/diagnostics.jsx) judges the path between browser and server by comparing
when the server sent each event with when it arrived: a proxy that buffers the stream
delivers ticks sent seconds apart in one burst, heartbeats included. What decides anything
here is pure — the bounds of the query, the send schedule, the caller's address, the
counter — and the streams only sleep until the next scheduled send.

- ``GET /api/diagnostics`` → ``{"heartbeat_interval_ms", "sse_retry_ms", "client_address",
  "open_streams"}``: the streams counted are the run event streams and these probes.
- ``GET /api/diagnostics/stream?ticks=N&interval_ms=M&pings=K``: ``retry:``, a ``ping`` at
  once, ``tick`` number 1…N every M ms, a ``ping`` every heartbeat interval until K of them
  (after the opening one) went out and the ticks are done, then ``done``; it closes.
- ``GET /api/diagnostics/idle?seconds=S``: ``retry:``, ``start``, S seconds of silence (no
  heartbeat), ``done``; it closes. Whether ``done`` arrives tells whether the path keeps an
  idle connection open that long.

Each event's data is JSON with ``server_ms``: milliseconds since the stream opened, taken
when it was sent. None of these events carries an ``id:``. Bad input is a 400 in the
contract's error shape.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import ipaddress
import json
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from app.engine.sse import encode_event, encode_retry
from app.settings import Settings
from app.web.responses import HTTPProblem
from app.web.stream import SSE_HEADERS

TICKS_RANGE = (1, 100)
TICK_INTERVAL_MS_RANGE = (20, 5000)
PINGS_RANGE = (0, 4)
MAX_TICK_PHASE_MS = 60_000
IDLE_SECONDS_RANGE = (1, 120)
DEFAULT_TICKS, DEFAULT_TICK_INTERVAL_MS, DEFAULT_PINGS = 10, 250, 2


# -- pure parts -----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ProbeSend:
    """One event of a probe stream, ``at_s`` seconds after the stream opened."""

    at_s: float
    event: str
    fields: Mapping[str, int]


def bounded_int(params: Mapping[str, str], name: str, default: int | None, bounds: tuple[int, int]) -> int | None:
    """``params[name]`` as a whole number within ``bounds`` (inclusive), ``default`` when absent.

    Raises ``HTTPProblem`` (400, ``bad_parameter``) naming the parameter and its range.
    """
    low, high = bounds
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    raw = raw.strip()
    if not raw.isascii() or not raw.isdigit() or len(raw) > 9 or not low <= int(raw) <= high:
        raise HTTPProblem(400, "bad_parameter", f"{name} must be a whole number from {low} to {high}.")
    return int(raw)


def tick_schedule(ticks: int, interval_s: float, heartbeat_s: float, pings: int) -> list[ProbeSend]:
    """The tick stream after its opening: tick k at k·interval; a ping at every heartbeat
    until at least ``pings`` went out and the ticks are done; ``done`` at the last of them.
    Ties go to the tick, so a tick's number is never behind the time order."""
    ticks_end_s = ticks * interval_s
    end_s = max(ticks_end_s, pings * heartbeat_s)
    ping_count = max(pings, int(end_s // heartbeat_s + 1e-9))
    sends = [ProbeSend(k * interval_s, "tick", {"n": k}) for k in range(1, ticks + 1)]
    sends += [ProbeSend(k * heartbeat_s, "ping", {"n": k}) for k in range(1, ping_count + 1)]
    sends.sort(key=lambda s: (s.at_s, s.event != "tick"))
    return [*sends, ProbeSend(end_s, "done", {"ticks": ticks, "pings": ping_count})]


def idle_schedule(seconds: int) -> list[ProbeSend]:
    """``start`` at once, then nothing for ``seconds``, then ``done``."""
    return [ProbeSend(0.0, "start", {"seconds": seconds}), ProbeSend(float(seconds), "done", {"seconds": seconds})]


def caller_address(peer: str | None, forwarded_for: str | None) -> str:
    """The address a caller's streams are counted under.

    The peer's address; but when the peer is on loopback — a proxy on this machine, such as
    the nginx of deploy/nginx/unbroken.conf, which sets ``X-Forwarded-For`` — the first
    address of ``X-Forwarded-For``. The app listens on loopback by default, so a caller could
    claim any address this way: the count is a diagnostic, never a limit or an identity.
    """
    if not peer:
        return "unknown"
    try:
        from_loopback = ipaddress.ip_address(peer).is_loopback
    except ValueError:
        return peer
    if from_loopback and forwarded_for:
        first = forwarded_for.split(",")[0].strip()
        try:
            return str(ipaddress.ip_address(first))
        except ValueError:
            pass
    return peer


class OpenStreams:
    """How many event streams are being sent right now, per caller address.

    ``holding(address)`` is the one place a count changes: it counts the stream for as long
    as its block runs, however the block ends.
    """

    def __init__(self) -> None:
        self._by_address: collections.Counter[str] = collections.Counter()

    @contextlib.contextmanager
    def holding(self, address: str) -> Iterator[None]:
        self._by_address[address] += 1
        try:
            yield
        finally:
            self._by_address[address] -= 1
            if self._by_address[address] <= 0:
                del self._by_address[address]

    def count(self, address: str) -> int:
        return self._by_address.get(address, 0)

    @property
    def total(self) -> int:
        return sum(self._by_address.values())


# -- I/O ------------------------------------------------------------------------------------


class CountedStream:
    """An ASGI response that counts in ``streams`` while ``inner`` is being sent (until the
    body ends or the client goes away)."""

    def __init__(self, inner: Response, streams: OpenStreams, address: str) -> None:
        self.inner, self.streams, self.address = inner, streams, address

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        with self.streams.holding(self.address):
            await self.inner(scope, receive, send)


def counted(streams: OpenStreams, request: Request, response: Response) -> Response | CountedStream:
    """``response``, counted under the caller's address when it is an event stream."""
    if not isinstance(response, StreamingResponse):
        return response
    peer = request.client.host if request.client else None
    return CountedStream(response, streams, caller_address(peer, request.headers.get("x-forwarded-for")))


async def probe_stream(
    opening: bytes,
    schedule: list[ProbeSend],
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], object] = asyncio.sleep,
) -> AsyncIterator[bytes]:
    """``opening``, then each scheduled event at its time, stamped with ``server_ms``."""
    started_s = clock()
    yield opening
    for item in schedule:
        wait_s = item.at_s - (clock() - started_s)
        if wait_s > 0:
            await sleep(wait_s)
        data = {**item.fields, "server_ms": round((clock() - started_s) * 1000)}
        yield encode_event(item.event, json.dumps(data))


def _event_stream(body: AsyncIterator[bytes]) -> StreamingResponse:
    return StreamingResponse(body, media_type="text/event-stream", headers=SSE_HEADERS)


def diagnostics_routes(settings: Settings, streams: OpenStreams) -> list[Route]:
    """The three diagnostics routes; ``streams`` is the counter the run event stream uses too."""
    heartbeat_s = settings.heartbeat_interval_s
    retry = encode_retry(settings.sse_retry_ms)

    async def overview(request: Request) -> Response:
        address = caller_address(request.client.host if request.client else None,
                                 request.headers.get("x-forwarded-for"))
        return JSONResponse({
            "heartbeat_interval_ms": round(heartbeat_s * 1000),
            "sse_retry_ms": settings.sse_retry_ms,
            "client_address": address,
            "open_streams": streams.count(address),
        })

    async def tick_stream(request: Request) -> Response:
        try:
            ticks = bounded_int(request.query_params, "ticks", DEFAULT_TICKS, TICKS_RANGE)
            interval_ms = bounded_int(request.query_params, "interval_ms", DEFAULT_TICK_INTERVAL_MS,
                                      TICK_INTERVAL_MS_RANGE)
            pings = bounded_int(request.query_params, "pings", DEFAULT_PINGS, PINGS_RANGE)
            if ticks * interval_ms > MAX_TICK_PHASE_MS:
                raise HTTPProblem(400, "bad_parameter",
                                  f"ticks × interval_ms must be at most {MAX_TICK_PHASE_MS} ms.")
        except HTTPProblem as problem:
            return problem.response()
        opening = retry + encode_event("ping", json.dumps({"n": 0, "server_ms": 0}))
        schedule = tick_schedule(ticks, interval_ms / 1000, heartbeat_s, pings)
        return counted(streams, request, _event_stream(probe_stream(opening, schedule)))

    async def idle_stream(request: Request) -> Response:
        try:
            seconds = bounded_int(request.query_params, "seconds", None, IDLE_SECONDS_RANGE)
        except HTTPProblem as problem:
            return problem.response()
        if seconds is None:
            return HTTPProblem(400, "bad_parameter", "seconds is required.").response()
        return counted(streams, request, _event_stream(probe_stream(retry, idle_schedule(seconds))))

    return [
        Route("/api/diagnostics", overview, methods=["GET"]),
        Route("/api/diagnostics/stream", tick_stream, methods=["GET"]),
        Route("/api/diagnostics/idle", idle_stream, methods=["GET"]),
    ]
