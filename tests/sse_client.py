"""A test SSE client over a real socket: read events, drop the connection, resume."""

from __future__ import annotations

import dataclasses
import json
import time

import httpx

from app.engine.sse import SSEDecoder


@dataclasses.dataclass
class Received:
    status: int
    events: list  # (id, event, data dict)
    retry: int | None


def read_events(base_url: str, run_id: str, *, last_event_id: str | None = None, after: str | None = None,
                stop_after: int | None = None, timeout_s: float = 30.0) -> Received:
    """Open the event stream; read until the server closes or ``stop_after`` log events arrived
    (then drop the connection). Pings are left out of ``events``."""
    headers = {"Last-Event-ID": last_event_id} if last_event_id is not None else {}
    params = {"after": after} if after is not None else {}
    decoder = SSEDecoder()
    events: list = []
    with httpx.Client(timeout=timeout_s) as client:
        with client.stream("GET", f"{base_url}/api/runs/{run_id}/events", headers=headers, params=params) as resp:
            if resp.status_code != 200:
                resp.read()
                return Received(resp.status_code, [], None)
            for chunk in resp.iter_raw():
                for message in decoder.feed(chunk):
                    if message.event == "ping":
                        continue
                    events.append((message.last_event_id, message.event, json.loads(message.data)))
                if stop_after is not None and len(events) >= stop_after:
                    break  # leaving the block closes the socket mid-stream
    return Received(200, events, decoder.retry)


@dataclasses.dataclass
class Arrival:
    at_s: float  # seconds after the request was sent
    event: str
    data: dict


def timed_events(url: str, *, timeout_s: float = 30.0, headers: dict | None = None) -> tuple[httpx.Headers, list[Arrival]]:
    """Read a whole event stream, noting when each event arrived; pings included."""
    decoder = SSEDecoder()
    arrivals: list[Arrival] = []
    with httpx.Client(timeout=timeout_s) as client:
        started = time.monotonic()
        with client.stream("GET", url, headers=headers or {}) as resp:
            resp.raise_for_status()
            for chunk in resp.iter_raw():
                now = time.monotonic() - started
                arrivals += [Arrival(now, m.event, json.loads(m.data)) for m in decoder.feed(chunk)]
    return resp.headers, arrivals
