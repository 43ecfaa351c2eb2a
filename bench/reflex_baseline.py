"""M8's baseline, for the benchmark only: an answer streamed through Reflex state, a yield per token.

``app/app.py`` adds this page only when ``UNBROKEN_BENCH_PAGES=on`` (the benchmark sets it on
the app it starts; the product never does). The form's question goes to the same upstream as
the app's (``OPENAI_BASE_URL``, the benchmark's fake), read with httpx; each token is appended
to a state var and the handler yields, so Reflex sends the var's new value over its websocket
— what a chat UI that keeps the answer in Reflex state sends to the browser.
"""

from __future__ import annotations

import json
import os

import httpx
import reflex as rx

ROUTE = "/bench/reflex-stream"


class BenchStreamState(rx.State):
    text: str = ""
    done: bool = False

    async def stream(self, form: dict):
        self.text, self.done = "", False
        yield
        url = os.environ.get("OPENAI_BASE_URL", "").rstrip("/") + "/chat/completions"
        body = {"model": "bench", "stream": True, "messages": [{"role": "user", "content": form.get("q", "")}]}
        async with httpx.AsyncClient(timeout=None) as client, client.stream("POST", url, json=body) as response:
            async for line in response.aiter_lines():
                if not line.startswith("data: {"):
                    continue
                content = json.loads(line[6:])["choices"][0]["delta"].get("content")
                if content:
                    self.text += content
                    yield
        self.done = True


def bench_stream_page() -> rx.Component:
    return rx.el.main(
        rx.form(
            rx.el.input(name="q", aria_label="Question"),
            rx.el.button("Send", type="submit"),
            on_submit=BenchStreamState.stream,
        ),
        rx.el.pre(BenchStreamState.text, data_testid="bench-answer", data_done=BenchStreamState.done.to_string()),
    )


def add_bench_pages(app: rx.App) -> None:
    app.add_page(bench_stream_page, route=ROUTE, title="Bench · Reflex state stream")
