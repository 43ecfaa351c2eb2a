"""A small TCP proxy between the browser and the app, to cut connections on purpose.

``cut()`` closes every open connection (both sides, at once); ``down()`` also refuses new
ones until ``up()``; ``bad_gateway()`` answers new ones with a 502, as a proxy whose
upstream is gone does (an EventSource gives up on that and ends CLOSED). Runs its own event loop in a thread, listening on loopback only.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading

from tests.fakes.server import free_port


class TCPProxy:
    def __init__(self, target_port: int, port: int | None = None) -> None:
        self.target_port = target_port
        self.port = port or free_port()
        self.cuts = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._writers: set[asyncio.StreamWriter] = set()
        self._mode = "forward"  # "forward" | "refuse" | "502"
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> TCPProxy:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def __exit__(self, *exc) -> None:
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    async def _shutdown(self) -> None:
        self._close_all()
        if self._server is not None:
            self._server.close()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def cut(self) -> None:
        self.cuts += 1
        self._call(self._close_all)

    def down(self) -> None:
        self._mode = "refuse"
        self.cut()

    def bad_gateway(self) -> None:
        self._mode = "502"
        self.cut()

    def up(self) -> None:
        self._mode = "forward"

    def _call(self, fn) -> None:
        async def run():
            fn()

        asyncio.run_coroutine_threadsafe(run(), self._loop).result(10)

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)

    def _close_all(self) -> None:
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def _accept(self, client_reader, client_writer) -> None:
        # A connection still open at shutdown is cancelled there: its normal end. (Let through,
        # Python 3.11's start_server logs the cancellation as an error of its own callback.)
        with contextlib.suppress(asyncio.CancelledError):
            await self._serve(client_reader, client_writer)

    async def _serve(self, client_reader, client_writer) -> None:
        if self._mode == "refuse":
            client_writer.transport.abort()
            return
        if self._mode == "502":
            client_writer.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            await client_writer.drain()
            client_writer.close()
            return
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            client_writer.transport.abort()
            return
        self._writers.update({client_writer, upstream_writer})
        await asyncio.gather(
            self._pipe(client_reader, upstream_writer), self._pipe(upstream_reader, client_writer),
            return_exceptions=True,
        )
        for writer in (client_writer, upstream_writer):
            self._writers.discard(writer)
            writer.transport.abort()

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        writer.transport.abort()
