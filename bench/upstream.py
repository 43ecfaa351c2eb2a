"""The benchmark's fake OpenAI-compatible upstream: a lean HTTP/1.1 server on raw asyncio.

It speaks just enough HTTP (keep-alive, ``Content-Length`` request bodies, chunked responses)
to stream Chat Completions at ``POST /v1/chat/completions`` with **one SSE event per token,
one write per event**. It is deliberately not Starlette/uvicorn, so that it is not the
bottleneck; the benchmark still measures it directly as every baseline.

What to stream is read from the last user message, ``bench tokens=N rate=R id=X``:
``rate=0`` streams unpaced (as fast as the socket takes it), else ``R`` tokens per second on
an absolute schedule (token ``i`` is due at ``start + i / R``; a late loop catches up, it
never drifts). ``GET /starts`` returns ``{id: start}`` (``time.monotonic()`` of each stream's
start, the same clock as the client's on Linux) so clients can compute delivery lag.

Every token is ``TOKEN_CHARS`` ASCII characters, so a reader counts tokens from characters.
With ``md=1`` after the id the tokens are 5-character slices of a markdown text (headings,
paragraphs with emphasis and inline code, lists, fenced code), newlines included, for the
browser scenarios (M7, M8): then the answer's bytes count the newlines once.

Run it as ``python -m bench.upstream PORT``; it prints ``ready`` once it listens.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time

TOKEN_CHARS = 5
_SPEC = re.compile(rb"bench tokens=(\d+) rate=([\d.]+) id=([\w-]+)( md=1)?")
_CHUNK_HEAD = (
    b'data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":0,"model":"bench",'
    b'"choices":[{"index":0,"delta":{"content":"'
)
_CHUNK_TAIL = b'"},"finish_reason":null}]}\n\n'
_FINAL = (
    b'data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":0,"model":"bench",'
    b'"choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":{"completion_tokens":%d}}\n\n'
    b"data: [DONE]\n\n"
)
_STREAM_HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n"
    b"transfer-encoding: chunked\r\n\r\n"
)
_WORDS = [f"{w:<{TOKEN_CHARS}}"[:TOKEN_CHARS] for w in (
    " the", " a", " relay", " adds", " no", " lag", " to", " each", " token", " it", " sends", ".\n\n",
    " **x**", " `c`", " and", " so", " on", " run", " log", " seq",
)]


def token(i: int) -> bytes:
    """Token ``i`` of every answer: exactly ``TOKEN_CHARS`` characters, no JSON escaping needed."""
    return _WORDS[i % len(_WORDS)].replace("\n", " ").encode()


# One cycle of the markdown answer; its length is a multiple of TOKEN_CHARS, so every cycle
# is cut into the same tokens.
_MARKDOWN = (
    "## Section heading\n\n"
    "The relay adds **no lag** to each `token` it sends, and the log keeps every event "
    "so that a reader who comes back later resumes where it left off.\n\n"
    "- a first item with *emphasis*\n"
    "- a second item with `code`\n"
    "- a third item\n\n"
    "```python\n"
    "for event in log.follow(run_id):\n"
    "    send(event)\n"
    "```\n\n"
)
_MARKDOWN += " " * (-len(_MARKDOWN) % TOKEN_CHARS)
_MD_TOKENS = [_MARKDOWN[i : i + TOKEN_CHARS] for i in range(0, len(_MARKDOWN), TOKEN_CHARS)]


def md_token(i: int) -> str:
    """Token ``i`` of a markdown answer (``md=1``): ``TOKEN_CHARS`` characters of the cycle."""
    return _MD_TOKENS[i % len(_MD_TOKENS)]


_MD_PAYLOADS = [json.dumps(t)[1:-1].encode() for t in _MD_TOKENS]


def answer_text(tokens: int, markdown: bool = False) -> str:
    if markdown:
        return "".join(md_token(i) for i in range(tokens))
    return b"".join(token(i) for i in range(tokens)).decode()


def _chunk(payload: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(payload), payload)


class Upstream:
    def __init__(self) -> None:
        self.starts: dict[str, float] = {}

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                request_line, _, header_block = head.partition(b"\r\n")
                length = 0
                for line in header_block.split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                body = await reader.readexactly(length) if length else b""
                if request_line.startswith(b"GET /starts"):
                    payload = json.dumps(self.starts).encode()
                    writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s"
                                 % (len(payload), payload))
                    await writer.drain()
                    continue
                spec = _SPEC.search(body)
                if spec is None:
                    writer.write(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
                    await writer.drain()
                    continue
                await self.stream(writer, int(spec[1]), float(spec[2]), spec[3].decode(), markdown=bool(spec[4]))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def stream(self, writer: asyncio.StreamWriter, tokens: int, rate_per_s: float, stream_id: str,
                     markdown: bool = False) -> None:
        start = time.monotonic()
        self.starts[stream_id] = start
        writer.write(_STREAM_HEAD)
        for i in range(tokens):
            if rate_per_s:
                wait_s = start + i / rate_per_s - time.monotonic()
                if wait_s > 0:
                    await asyncio.sleep(wait_s)
            payload = _MD_PAYLOADS[i % len(_MD_PAYLOADS)] if markdown else token(i)
            writer.write(_chunk(_CHUNK_HEAD + payload + _CHUNK_TAIL))
            await writer.drain()
        writer.write(_chunk(_FINAL % tokens) + b"0\r\n\r\n")
        await writer.drain()


async def serve(port: int) -> None:
    upstream = Upstream()
    server = await asyncio.start_server(upstream.handle, "127.0.0.1", port, backlog=4096)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(serve(int(sys.argv[1])))
    except KeyboardInterrupt:
        pass
