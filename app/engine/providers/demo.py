"""The built-in ``demo`` provider: local, deterministic markdown, clearly labelled.

It lets the app run with no key and gives tests an upstream whose text is known in advance:
the same prompt always gives the same answer, streamed at ``tokens_per_s``.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import AsyncIterator, Awaitable, Callable

from app.engine.providers.base import ChatRequest, Provider, StreamEnd, StreamItem, TextDelta

_TOKEN = re.compile(r"\S+\s*|\s+")

_OPENINGS = (
    "Here is a demo answer, written locally by Unbroken so you can try the app without an API key.",
    "This answer comes from the built-in demo provider: no model was called.",
    "Unbroken's demo provider wrote this text on your own server.",
)
_POINTS = (
    "Every event is stored before it is sent, so a reload shows the text so far.",
    "If your connection drops, the page reconnects and resumes from the last event it applied.",
    "Stopping keeps the partial answer exactly as it was saved.",
    "Answers stream over Server-Sent Events with a heartbeat every few seconds.",
    "Each run has a state you can see: connecting, streaming, complete, stopped and more.",
    "Set `OPENAI_API_KEY` (and optionally `OPENAI_BASE_URL`) to talk to a real model.",
)


def demo_answer(prompt: str) -> str:
    """The deterministic answer to ``prompt``: same prompt, same text."""
    digest = hashlib.sha256(prompt.encode()).digest()
    quoted = " ".join(prompt.split())[:80]
    points = [_POINTS[(digest[i] + i) % len(_POINTS)] for i in range(4)]
    lines = [
        f"**Demo answer** to: _{quoted}_",
        "",
        _OPENINGS[digest[5] % len(_OPENINGS)],
        "",
        *[f"{n}. {point}" for n, point in enumerate(points, start=1)],
        "",
        "```python",
        f"# demo fingerprint of your question: {digest[:4].hex()}",
        "print('answers survive every drop')",
        "```",
        "",
        "That is the end of the demo answer.",
    ]
    return "\n".join(lines)


def tokens(text: str) -> list[str]:
    """Split into word-sized pieces that join back to ``text``."""
    return _TOKEN.findall(text)


class DemoProvider(Provider):
    name = "demo"
    label = "Demo (local text, no model)"
    default_model = "demo"
    is_demo = True
    answers_whole = True

    def __init__(self, tokens_per_s: float, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self._interval_s = 1.0 / tokens_per_s
        self._sleep = sleep

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamItem]:
        pieces, end = _answer(request)
        for piece in pieces:
            await self._sleep(self._interval_s)
            yield TextDelta(piece)
        yield end

    async def whole_answer(self, request: ChatRequest) -> list[StreamItem]:
        pieces, end = _answer(request)
        await self._sleep(self._interval_s * len(pieces))  # as long as streaming it would take
        return [TextDelta("".join(pieces)), end] if pieces else [end]


def _answer(request: ChatRequest) -> tuple[list[str], StreamEnd]:
    """The pieces to send (within ``max_tokens``) and how the answer ends."""
    prompt = next((m.content for m in reversed(request.messages) if m.role == "user"), "")
    answer = demo_answer(prompt)
    # A continuation goes on from the partial's end (the demo answer is deterministic).
    start = len(request.prefix) if answer.startswith(request.prefix) else 0
    pieces = tokens(answer[start:])
    limit = request.max_tokens or len(pieces)
    return pieces[:limit], StreamEnd("length" if limit < len(pieces) else "stop")
