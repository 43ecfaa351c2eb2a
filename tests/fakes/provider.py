"""A scripted provider for engine tests: each call plays the next script of items."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from app.engine.providers.base import ChatRequest, Provider, StreamItem


class Pause:
    """Wait until the test releases the stream (``ScriptedProvider.release``)."""


class ScriptedProvider(Provider):
    name = "scripted"
    label = "Scripted test provider"
    default_model = "scripted-1"

    def __init__(self, *scripts: list) -> None:
        self.scripts = list(scripts)
        self.requests: list[ChatRequest] = []
        self.paused = asyncio.Event()
        self._release = asyncio.Event()

    def release(self) -> None:
        self._release.set()

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamItem]:
        self.requests.append(request)
        for item in self.scripts.pop(0):
            if isinstance(item, Pause):
                self.paused.set()
                await self._release.wait()
            elif isinstance(item, Exception):
                raise item
            else:
                await asyncio.sleep(0)
                yield item
