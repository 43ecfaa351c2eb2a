"""Keeps a page unloaded: what the server sends on the page's Reflex websocket is held back
until the test releases it, so the page is connected but its state (on_load) has not arrived."""

from __future__ import annotations

import re
import time


class HeldWebsocket:
    """Call before ``page.goto``; ``wait_held()`` once the page has loaded its HTML."""

    def __init__(self, page) -> None:
        self._page = page
        self._held: list = []
        self._open = False
        page.route_web_socket(re.compile(r"/_event/"), self._route)

    def _route(self, ws) -> None:
        server = ws.connect_to_server()  # what the page sends goes through as it is
        server.on_message(lambda frame: ws.send(frame) if self._open else self._held.append((ws, frame)))

    def wait_held(self, timeout_s: float = 30) -> None:
        """Until the server's first frame is held: the page is connected, and waits."""
        deadline = time.monotonic() + timeout_s
        while not self._held:
            assert time.monotonic() < deadline, "the page opened no websocket"
            self._page.wait_for_timeout(50)  # lets Playwright deliver the frames meanwhile

    def release(self) -> None:
        """The held frames in their order, then every frame as it comes."""
        while self._held:
            ws, frame = self._held.pop(0)
            ws.send(frame)
        self._open = True
