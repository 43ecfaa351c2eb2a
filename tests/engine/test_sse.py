"""The SSE decoder and encoder at the byte level (WHATWG event-stream interpretation)."""

from __future__ import annotations

import pytest

from app.engine.sse import SSEDecoder, SSELineTooLong, SSEMessage, encode_event, encode_events, encode_retry


def decode(*chunks: bytes) -> tuple[list[SSEMessage], SSEDecoder]:
    decoder = SSEDecoder()
    messages = [m for chunk in chunks for m in decoder.feed(chunk)]
    return messages + decoder.flush(), decoder


@pytest.mark.parametrize(
    "chunks, expected",
    [
        ([b"data: a\n\n"], [("message", "a", "")]),
        ([b"data: a\r\n\r\n"], [("message", "a", "")]),
        ([b"data: a\r\r"], [("message", "a", "")]),
        ([b"data: a\r", b"\n\r\n"], [("message", "a", "")]),  # CRLF split across chunks counts once
        ([b"da", b"ta: a", b"\n", b"\n"], [("message", "a", "")]),
        ([b"data: 1\ndata: 2\n\n"], [("message", "1\n2", "")]),
        ([b"event: delta\nid: 7\ndata: {}\n\n"], [("delta", "{}", "7")]),
        ([b": comment\n\n"], []),
        ([b"data\n\n"], [("message", "", "")]),
        ([b"data:no-space\n\n"], [("message", "no-space", "")]),
        ([b"data:  two\n\n"], [("message", " two", "")]),
        ([b"\xef\xbb\xbfdata: bom\n\n"], [("message", "bom", "")]),
        ([b"data: caf\xc3", b"\xa9\n\n"], [("message", "café", "")]),  # multi-byte char split
        ([b"data: unterminated"], []),  # discarded at end of stream
        ([b"id: 3\n\n", b"data: x\n\n"], [("message", "x", "3")]),  # id persists
        ([b"id: a\x00b\ndata: x\n\n"], [("message", "x", "")]),  # id with NUL ignored
        ([b"unknown: field\ndata: x\n\n"], [("message", "x", "")]),
    ],
)
def test_decoder_handles_line_endings_and_fields(chunks, expected):
    messages, _ = decode(*chunks)
    assert [(m.event, m.data, m.last_event_id) for m in messages] == expected


@pytest.mark.parametrize("line, retry", [(b"retry: 1500\n", 1500), (b"retry: 15x\n", None), (b"retry: -1\n", None)])
def test_decoder_accepts_only_digit_retry(line, retry):
    _, decoder = decode(line)
    assert decoder.retry == retry


def test_decoder_refuses_an_endless_line():
    decoder = SSEDecoder(max_line_chars=100)
    with pytest.raises(SSELineTooLong):
        decoder.feed(b"data: " + b"x" * 200)


def test_every_byte_split_of_a_stream_decodes_the_same():
    stream = encode_retry(500) + encode_event("delta", '{"seq":1,"text":"é\\n"}', 1) + b"event: ping\r\ndata: {}\r\n\r\n"
    whole, _ = decode(stream)
    for cut in range(1, len(stream)):
        assert decode(stream[:cut], stream[cut:])[0] == whole


def test_encode_event_round_trips_multiline_data():
    messages, _ = decode(encode_event("end", "line one\nline two", 42))
    assert messages == [SSEMessage(event="end", data="line one\nline two", last_event_id="42")]


def test_encode_event_wire_bytes():
    assert encode_event("delta", '{"seq":3}', 3) == b'id: 3\nevent: delta\ndata: {"seq":3}\n\n'
    assert encode_event("ping", "{}") == b"event: ping\ndata: {}\n\n"


def test_encode_events_is_the_messages_one_after_another():
    events = [("delta", '{"seq":1,"text":"é"}', 1), ("end", "two\nlines", 2), ("ping", "{}", None)]
    assert encode_events(events) == b"".join(encode_event(*event) for event in events)
    messages, _ = decode(encode_events(events))
    assert [(m.event, m.data) for m in messages] == [(e, d) for e, d, _ in events]
