"""The providers' transport (httpcore on asyncio streams) against real servers on loopback:
streaming, keep-alive, TLS, and every failure as the same httpx exception as httpx's default."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import subprocess
import threading
import time

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.responses import StreamingResponse
from starlette.routing import Route

from app.engine.providers.transport import asyncio_transport
from tests.fakes.server import ServerThread, free_port
from tests.fakes.upstream import Answer, FakeUpstream

PIECES = [b"one ", b"two ", b"three"]


async def _pieces(_request):
    async def body():
        for piece in PIECES:
            yield piece
            await asyncio.sleep(0.01)

    return StreamingResponse(body(), media_type="text/plain")


async def _stall(_request):
    async def body():
        yield b"first"
        await asyncio.sleep(5)
        yield b"never"

    return StreamingResponse(body(), media_type="text/plain")


APP = Starlette(routes=[Route("/pieces", _pieces), Route("/stall", _stall)])


@pytest.fixture(scope="module")
def server():
    with ServerThread(APP) as running:
        yield running


def client(**options) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=asyncio_transport(**options), timeout=httpx.Timeout(5.0, read=0.5))


async def test_a_chunked_body_streams_piece_by_piece_and_the_connection_is_reused(server):
    async with client() as http:
        for _ in range(2):
            async with http.stream("GET", f"{server.url}/pieces") as response:
                received = [chunk async for chunk in response.aiter_bytes()]
            assert b"".join(received) == b"".join(PIECES)
            assert len(received) == len(PIECES)  # each piece as it was sent, not the body at the end
        pool = http._transport._pool
        assert len(pool.connections) == 1  # kept alive and used again


async def test_a_refused_connection_is_a_connect_error():
    async with client() as http:
        with pytest.raises(httpx.ConnectError):
            await http.get(f"http://127.0.0.1:{free_port()}/")


async def test_silence_past_the_read_timeout_is_a_read_timeout(server):
    async with client() as http:
        async with http.stream("GET", f"{server.url}/stall") as response:
            with pytest.raises(httpx.ReadTimeout):
                async for _chunk in response.aiter_bytes():
                    pass


async def test_a_body_cut_mid_stream_is_a_remote_protocol_error():
    with FakeUpstream(Answer(text="a" * 40, drop_after_chunks=3)) as upstream:
        async with client() as http:
            async with http.stream("POST", f"{upstream.base_url}/chat/completions", json={"stream": True}) as response:
                with pytest.raises(httpx.RemoteProtocolError):
                    async for _chunk in response.aiter_bytes():
                        pass


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory):
    """The same app over HTTPS with a self-signed certificate for 127.0.0.1."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    with _serving(ssl_keyfile=str(key), ssl_certfile=str(cert)) as port:
        yield f"https://127.0.0.1:{port}", cert


@contextlib.contextmanager
def _serving(**config):
    """``APP`` on uvicorn with these config options, in a thread; yields the port."""
    port = free_port()
    running = uvicorn.Server(uvicorn.Config(APP, host="127.0.0.1", port=port, log_level="warning", **config))
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not running.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.01)
    try:
        yield port
    finally:
        running.should_exit = True
        thread.join(timeout=15)


async def test_a_pooled_connection_the_server_closed_is_not_reused():
    with _serving(timeout_keep_alive=0.1) as port:
        async with client() as http:
            first = (await http.get(f"http://127.0.0.1:{port}/pieces")).extensions["network_stream"]
            stream = first
            deadline = time.monotonic() + 5
            while not stream.get_extra_info("is_readable"):  # until the server's close has arrived
                assert time.monotonic() < deadline, "the server never closed the idle connection"
                await asyncio.sleep(0.02)
            second = await http.get(f"http://127.0.0.1:{port}/pieces")
            assert second.content == b"".join(PIECES)
            assert second.extensions["network_stream"] is not first


async def test_tls_streams_with_a_trusted_certificate(tls_server):
    url, cert = tls_server
    async with client(verify=ssl.create_default_context(cafile=str(cert))) as http:
        async with http.stream("GET", f"{url}/pieces") as response:
            assert b"".join([chunk async for chunk in response.aiter_bytes()]) == b"".join(PIECES)
            assert response.extensions["network_stream"].get_extra_info("ssl_object") is not None


async def test_tls_refuses_an_untrusted_certificate(tls_server):
    url, _cert = tls_server
    async with client() as http:
        with pytest.raises(httpx.ConnectError):
            await http.get(f"{url}/pieces")
