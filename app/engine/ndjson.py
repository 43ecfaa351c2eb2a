"""Newline-delimited JSON framing (https://github.com/ndjson/ndjson-spec), pure.

``NDJSONLines.feed(chunk)`` returns the lines the chunk completed; ``flush()`` returns a
last line the stream ended without a newline. Chunks may cut anywhere — mid-line or
mid-character: a line is only decoded once it is whole, and a UTF-8 sequence never contains
the ``\\n`` byte, so cutting at newlines first is safe. Blank lines are skipped and a
trailing ``\\r`` is dropped. Parsing each line as JSON is the caller's business.
"""

from __future__ import annotations


class NDJSONLineTooLong(ValueError):
    """A line grew past the splitter's limit without a newline (a broken or hostile peer)."""


class NDJSONLines:
    def __init__(self, max_line_bytes: int = 4 * 1024 * 1024) -> None:
        self._max_line_bytes = max_line_bytes
        self._partial = bytearray()  # bytes after the last newline

    def feed(self, chunk: bytes) -> list[str]:
        *complete, rest = chunk.split(b"\n")
        lines = []
        for piece in complete:
            self._partial += piece
            lines.append(self._take_line())
        self._partial += rest
        if len(self._partial) > self._max_line_bytes:
            raise NDJSONLineTooLong(f"an NDJSON line exceeded {self._max_line_bytes} bytes")
        return [line for line in lines if line]

    def flush(self) -> list[str]:
        """End of stream: the unterminated last line, if it holds anything."""
        line = self._take_line()
        return [line] if line else []

    def _take_line(self) -> str:
        line = bytes(self._partial).removesuffix(b"\r").decode(errors="replace")
        self._partial.clear()
        return line if line.strip() else ""
