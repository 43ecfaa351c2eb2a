"""The HTTP transport under the providers' ``httpx.AsyncClient``: httpx's own, on asyncio streams.

httpx's default transport runs httpcore over anyio, whose socket stream registers and
unregisters the socket with the event loop for every read and opens a cancel scope for
every timeout. A streamed answer is one small read per token, so that overhead is paid per
token. ``AsyncioBackend`` is the same httpcore network backend interface on asyncio's
streams (a protocol that is always reading into a buffer; ``asyncio.timeout`` per call);
httpcore keeps doing HTTP/1.1, TLS, pooling and keep-alive, and httpx's API does not change.
The benchmark measures both (``bench/transport.py``): this one used 0.77–0.99× the CPU per
paced token in five runs (bench/README.md, "Transport").

Errors are httpcore's (``ConnectError``, ``ReadTimeout`` …), as with the default backend,
so httpx maps them to the same exceptions and ``errors.from_httpx`` sees no difference.
"""
from __future__ import annotations

import asyncio
import contextlib
import select
import socket
import ssl
import typing
from collections.abc import Iterable, Iterator

import httpcore
import httpx

STREAM_BUFFER_BYTES = 256 * 1024


@contextlib.contextmanager
def _mapped(timeout_error: type[Exception], other_error: type[Exception]) -> Iterator[None]:
    try:
        yield
    except TimeoutError as exc:
        raise timeout_error(str(exc) or "timed out") from exc
    except (OSError, EOFError, ssl.SSLError) as exc:
        raise other_error(str(exc) or type(exc).__name__) from exc


def _readable(sock: socket.socket | None) -> bool:
    """Whether a read would return at once (data or the peer's close): an idle pooled
    connection that is readable has been closed by the server and is not reused."""
    if sock is None or sock.fileno() < 0:
        return True
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(0))


class AsyncioStream(httpcore.AsyncNetworkStream):
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        with _mapped(httpcore.ReadTimeout, httpcore.ReadError):
            async with asyncio.timeout(timeout):
                return await self._reader.read(max_bytes)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        with _mapped(httpcore.WriteTimeout, httpcore.WriteError):
            async with asyncio.timeout(timeout):
                self._writer.write(buffer)
                await self._writer.drain()

    async def aclose(self) -> None:
        self._writer.close()
        with contextlib.suppress(Exception):
            await self._writer.wait_closed()

    async def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                        timeout: float | None = None) -> httpcore.AsyncNetworkStream:
        with _mapped(httpcore.ConnectTimeout, httpcore.ConnectError):
            try:
                async with asyncio.timeout(timeout):
                    await self._writer.start_tls(ssl_context, server_hostname=server_hostname)
            except BaseException:
                await self.aclose()
                raise
        return self

    def get_extra_info(self, info: str) -> typing.Any:
        if info == "ssl_object":
            return self._writer.get_extra_info("ssl_object")
        if info == "client_addr":
            return self._writer.get_extra_info("sockname")
        if info == "server_addr":
            return self._writer.get_extra_info("peername")
        if info == "socket":
            return self._writer.get_extra_info("socket")
        if info == "is_readable":
            return self._reader.at_eof() or _readable(self._writer.get_extra_info("socket"))
        return None


class AsyncioBackend(httpcore.AsyncNetworkBackend):
    async def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                          socket_options: Iterable[tuple] | None = None) -> httpcore.AsyncNetworkStream:
        with _mapped(httpcore.ConnectTimeout, httpcore.ConnectError):
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(
                    host, port, local_addr=(local_address, 0) if local_address else None, limit=STREAM_BUFFER_BYTES)
        sock = writer.get_extra_info("socket")
        for option in socket_options or ():
            sock.setsockopt(*option)
        return AsyncioStream(reader, writer)

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: Iterable[tuple] | None = None) -> httpcore.AsyncNetworkStream:
        with _mapped(httpcore.ConnectTimeout, httpcore.ConnectError):
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_unix_connection(path, limit=STREAM_BUFFER_BYTES)
        return AsyncioStream(reader, writer)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


def asyncio_transport(**options) -> httpx.AsyncHTTPTransport:
    """httpx's own transport (``options`` as for ``httpx.AsyncHTTPTransport``) on ``AsyncioBackend``."""
    transport = httpx.AsyncHTTPTransport(**options)
    transport._pool._network_backend = AsyncioBackend()  # the one backend hook httpx does not pass through
    return transport
