"""The NDJSON line splitter at the byte level: chunks cut anywhere give the same lines."""

from __future__ import annotations

import pytest

from app.engine.ndjson import NDJSONLines, NDJSONLineTooLong


def split(*chunks: bytes) -> list[str]:
    splitter = NDJSONLines()
    return [line for chunk in chunks for line in splitter.feed(chunk)] + splitter.flush()


@pytest.mark.parametrize(
    "chunks, expected",
    [
        ([b'{"a":1}\n{"b":2}\n'], ['{"a":1}', '{"b":2}']),
        ([b'{"a":', b"1}\n"], ['{"a":1}']),  # a line split across chunks
        ([b'{"a":1}', b"\n"], ['{"a":1}']),
        ([b'{"a":1}\r\n{"b":2}\r\n'], ['{"a":1}', '{"b":2}']),
        ([b'{"a":1}\r', b'\n'], ['{"a":1}']),  # CRLF split across chunks
        ([b'{"a":1}\n\n \n{"b":2}\n'], ['{"a":1}', '{"b":2}']),  # blank lines skipped
        ([b'{"a":1}\n{"b":2}'], ['{"a":1}', '{"b":2}']),  # last line without newline
        ([b'{"t":"caf\xc3', b'\xa9"}\n'], ['{"t":"café"}']),  # multi-byte character split
        ([b""], []),
        ([b"\n\n"], []),
    ],
)
def test_splitter_returns_whole_lines_however_the_bytes_arrive(chunks, expected):
    assert split(*chunks) == expected


def test_every_byte_split_of_a_stream_gives_the_same_lines():
    stream = '{"message":{"content":"é\\n"},"done":false}\r\n\n{"done":true}'.encode()
    whole = split(stream)
    assert len(whole) == 2
    for cut in range(1, len(stream)):
        assert split(stream[:cut], stream[cut:]) == whole


def test_one_byte_at_a_time_gives_the_same_lines():
    stream = b'{"a":"x"}\n{"b":"y"}\n'
    assert split(*(stream[i : i + 1] for i in range(len(stream)))) == ['{"a":"x"}', '{"b":"y"}']


def test_splitter_refuses_an_endless_line():
    splitter = NDJSONLines(max_line_bytes=100)
    with pytest.raises(NDJSONLineTooLong):
        splitter.feed(b"x" * 60)
        splitter.feed(b"x" * 60)
