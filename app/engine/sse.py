"""The Server-Sent Events wire format: an encoder and an incremental decoder, both pure.

Implements https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation
(the decoder) and the matching production rules (the encoder). Bytes go in, messages come
out; nothing here awaits or touches a socket, so every edge of the format is tested at the
byte level: a line split across chunks, ``\\r`` / ``\\n`` / ``\\r\\n``, a multi-byte character
cut in half, comments, a bad ``retry``.

It lives in the engine because both sides speak it: the web layer encodes the run log for
browsers, and the OpenAI-compatible provider decodes its upstream's stream.
"""

from __future__ import annotations

import codecs
import dataclasses
import re
from collections.abc import Iterable

_LINE_BREAK = re.compile(r"\r\n|\r|\n")


@dataclasses.dataclass(frozen=True)
class SSEMessage:
    event: str
    data: str
    last_event_id: str


class SSELineTooLong(ValueError):
    """A line grew past the decoder's limit without a line break (a broken or hostile peer)."""


def encode_event(event: str, data: str, event_id: int | str | None = None) -> bytes:
    """One message; ``data`` may hold newlines (each becomes its own ``data:`` line)."""
    return encode_event_text(event, data, event_id).encode()


def encode_events(events: Iterable[tuple[str, str, int | str | None]]) -> bytes:
    """Several messages as one chunk, ``(event, data, id)`` each: what one write sends."""
    return "".join(encode_event_text(event, data, event_id) for event, data, event_id in events).encode()


def encode_event_text(event: str, data: str, event_id: int | str | None = None) -> str:
    if event_id is not None and event != "message" and "\n" not in data:
        # The log's own events (compact JSON: never a raw newline) take this path; a replay
        # of a long answer encodes thousands of them at once.
        return f"id: {event_id}\nevent: {event}\ndata: {data}\n\n"
    lines = []
    if event_id is not None:
        lines.append(f"id: {event_id}")
    if event != "message":
        lines.append(f"event: {event}")
    lines.extend(f"data: {line}" for line in data.split("\n"))
    return "\n".join(lines) + "\n\n"


def encode_retry(retry_ms: int) -> bytes:
    return f"retry: {retry_ms}\n\n".encode()


def encode_comment(text: str = "") -> bytes:
    return f":{text}\n\n".encode()


class SSEDecoder:
    """Incremental decoder: ``feed(chunk)`` and ``flush()`` return the messages completed.

    ``retry`` holds the last valid reconnection time the stream asked for, if any.
    """

    def __init__(self, max_line_chars: int = 4 * 1024 * 1024) -> None:
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._max_line_chars = max_line_chars
        self._partial: list[str] = []  # text after the last line break, as received
        self._partial_chars = 0
        self._at_start = True  # a leading BOM is dropped once
        self._skip_lf = False  # the previous chunk ended in CR: a leading LF belongs to it
        self._event = ""
        self._data: list[str] = []
        self._last_event_id = ""
        self.retry: int | None = None

    @property
    def last_event_id(self) -> str:
        return self._last_event_id

    def feed(self, chunk: bytes) -> list[SSEMessage]:
        return self._feed_text(self._utf8.decode(chunk))

    def flush(self) -> list[SSEMessage]:
        """End of stream: decode what is left; an unterminated message is discarded (spec)."""
        messages = self._feed_text(self._utf8.decode(b"", final=True))
        if self._partial:
            messages.extend(self._process_line("".join(self._partial)))
            self._partial, self._partial_chars = [], 0
        self._event, self._data = "", []
        return messages

    def _feed_text(self, text: str) -> list[SSEMessage]:
        if self._at_start and text:
            text = text.removeprefix("\ufeff")
            self._at_start = not text
        if self._skip_lf and text:
            text = text.removeprefix("\n")
            self._skip_lf = False
        *lines, rest = _LINE_BREAK.split(text)
        if lines:
            # The text before the first break completes the line the earlier chunks began.
            lines[0] = "".join(self._partial) + lines[0]
            self._partial, self._partial_chars = [], 0
            # A trailing lone CR ended the last line; an LF opening the next chunk belongs to it.
            self._skip_lf = rest == "" and text.endswith("\r")
        if rest:
            self._partial.append(rest)
            self._partial_chars += len(rest)
            if self._partial_chars > self._max_line_chars:
                raise SSELineTooLong(f"an SSE line exceeded {self._max_line_chars} characters")
        messages: list[SSEMessage] = []
        for line in lines:
            messages.extend(self._process_line(line))
        return messages

    def _process_line(self, line: str) -> list[SSEMessage]:
        if line == "":
            return self._dispatch()
        if line.startswith(":"):
            return []
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "event":
            self._event = value
        elif field == "data":
            self._data.append(value)
        elif field == "id":
            if "\0" not in value:
                self._last_event_id = value
        elif field == "retry":
            if value.isascii() and value.isdigit():
                self.retry = int(value)
        return []

    def _dispatch(self) -> list[SSEMessage]:
        event, data = self._event or "message", self._data
        self._event, self._data = "", []
        if not data:
            return []
        return [SSEMessage(event=event, data="\n".join(data), last_event_id=self._last_event_id)]

