"""M6's baseline: a bare Starlette SSE endpoint on one uvicorn worker, nothing else.

``GET /sse`` sends a ping at once and then one every 15 s, like the app's idle streams.
``python -m bench.bare_sse PORT`` prints ``ready`` once it listens.
"""

from __future__ import annotations

import asyncio
import sys

import uvicorn
from starlette.applications import Starlette
from starlette.responses import StreamingResponse
from starlette.routing import Route

PING = b"event: ping\ndata: {}\n\n"
PING_INTERVAL_S = 15.0


async def _pings():
    while True:
        yield PING
        await asyncio.sleep(PING_INTERVAL_S)


async def sse(_request) -> StreamingResponse:
    return StreamingResponse(_pings(), media_type="text/event-stream")


class _ReadyServer(uvicorn.Server):
    async def startup(self, sockets=None) -> None:
        await super().startup(sockets)
        print("ready", flush=True)


if __name__ == "__main__":
    app = Starlette(routes=[Route("/sse", sse)])
    config = uvicorn.Config(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", backlog=4096,
                            timeout_graceful_shutdown=2)
    _ReadyServer(config).run()
