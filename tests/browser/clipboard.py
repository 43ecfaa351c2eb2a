"""Reading what the page copied. ``wait_for_function`` cannot wait for the clipboard: the
read is a promise, and a predicate that returns a promise counts as true at once."""

from __future__ import annotations

import time
from collections.abc import Callable

POLL_MS = 50


def wait_for_clipboard(page, accepts: Callable[[str], bool], timeout_s: float = 10.0) -> str:
    """The clipboard's text, once ``accepts`` it; fails after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        text = page.evaluate("navigator.clipboard.readText()")
        if accepts(text):
            return text
        if time.monotonic() > deadline:
            raise AssertionError(f"the clipboard never held the expected text; it holds {text[:80]!r}")
        page.wait_for_timeout(POLL_MS)
