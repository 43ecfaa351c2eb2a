"""A fake OpenAI-compatible upstream: a real HTTP server on loopback with scripted answers.

Each request to ``/v1/chat/completions`` takes the next ``Answer`` from the script (the last
one repeats). Tests read ``calls`` to assert how often the upstream was asked and with what.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import threading

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.fakes.server import ServerThread


@dataclasses.dataclass
class Answer:
    text: str = "Hello from the fake upstream."
    chunk_chars: int = 4  # characters per chunk
    delay_s: float = 0.0  # pause before each chunk
    finish_reason: str | None = "stop"
    send_done: bool = True
    status: int = 200
    error_body: dict | None = None
    headers: dict[str, str] = dataclasses.field(default_factory=dict)

    def chunks(self) -> list[str]:
        return [self.text[i : i + self.chunk_chars] for i in range(0, len(self.text), self.chunk_chars)]


def _sse(payload: dict | str) -> bytes:
    data = payload if isinstance(payload, str) else json.dumps(payload)
    return f"data: {data}\n\n".encode()


class FakeUpstream:
    def __init__(self, *answers: Answer) -> None:
        self.script = list(answers) or [Answer()]
        self.calls: list[dict] = []
        self._lock = threading.Lock()
        self._server = ServerThread(Starlette(routes=[Route("/v1/chat/completions", self._chat, methods=["POST"])]))

    @property
    def base_url(self) -> str:
        return f"{self._server.url}/v1"

    def set_script(self, *answers: Answer) -> None:
        with self._lock:
            self.script = list(answers)

    def __enter__(self) -> FakeUpstream:
        self._server.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._server.__exit__(*exc)

    def _next_answer(self, body: dict, headers: dict) -> Answer:
        with self._lock:
            self.calls.append({"body": body, "headers": headers})
            return self.script.pop(0) if len(self.script) > 1 else self.script[0]

    async def _chat(self, request: Request) -> Response:
        body = await request.json()
        answer = self._next_answer(body, dict(request.headers))
        if answer.status != 200:
            return JSONResponse(answer.error_body or {"error": {"message": "scripted failure"}},
                                status_code=answer.status, headers=answer.headers)
        return StreamingResponse(self._stream(answer, body.get("model", "fake")), media_type="text/event-stream")

    async def _stream(self, answer: Answer, model: str):
        for piece in answer.chunks():
            if answer.delay_s:
                await asyncio.sleep(answer.delay_s)
            yield _sse({"id": "c1", "model": model, "choices": [{"index": 0, "delta": {"content": piece},
                                                                    "finish_reason": None}]})
        if answer.finish_reason:
            yield _sse({"id": "c1", "model": model, "choices": [{"index": 0, "delta": {},
                                                                    "finish_reason": answer.finish_reason}]})
        if answer.send_done:
            yield _sse("[DONE]")
