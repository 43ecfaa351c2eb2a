"""The app behind Debian's nginx running deploy/nginx/unbroken.conf: the page, the answers'
event streams and Reflex's websocket pass through the documented config.

The page's own websocket does not go through nginx here: Reflex builds its address from the
page's host and the app's port (unless the page is served over https, or REFLEX_API_URL names
the public address), and the session's app is built for its own port. So the websocket
upgrade is checked with a handshake of its own.
"""

from __future__ import annotations

import base64
import os
import socket

import pytest

from tests.browser.test_chat_page import END_OF_DEMO, ask, wait_connection, wait_state

pytestmark = pytest.mark.browser


def test_a_question_gets_a_streamed_answer_through_the_recommended_nginx_config(context, nginx_in_front):
    nginx = nginx_in_front("streaming")
    page = context.new_page()
    answer = ask(page, nginx.url, "Does this work behind nginx?")
    wait_state(answer, "streaming")
    wait_connection(answer, "live")
    wait_state(answer, "complete")
    assert END_OF_DEMO in answer.locator(".ub-answer-text").inner_text()
    run_id = answer.get_attribute("data-run-id")
    assert f"GET /api/runs/{run_id}/events" in nginx.access_log()  # the answer came through nginx


def _read_until(sock: socket.socket, marker: bytes, limit: int = 65536) -> bytes:
    data = b""
    while marker not in data:
        chunk = sock.recv(4096)
        if not chunk or len(data) > limit:
            raise AssertionError(f"no {marker!r} in {data[:300]!r}")
        data += chunk
    return data


def test_the_reflex_websocket_upgrades_through_the_recommended_nginx_config(nginx_in_front):
    nginx = nginx_in_front("streaming")
    key = base64.b64encode(os.urandom(16)).decode()
    handshake = (
        "GET /_event/?EIO=4&transport=websocket HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{nginx.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", nginx.port), timeout=10) as sock:
        sock.sendall(handshake.encode())
        response = _read_until(sock, b"\r\n\r\n")
        head, _, rest = response.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101"), head
        assert b"upgrade: websocket" in head.lower()
        frame = rest + _read_until(sock, b"sid") if b"sid" not in rest else rest
    # The first frame is text (0x81), and engine.io's open packet ("0{"sid": …}") inside it.
    payload_at = 4 if frame[1] & 0x7F == 126 else 2
    assert frame[0] == 0x81 and frame[payload_at:payload_at + 2] == b"0{", frame[:40]
