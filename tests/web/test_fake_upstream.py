"""The fake upstream's faults do what the provider tests rely on, seen from a plain httpx client."""

from __future__ import annotations

import httpx
import pytest

from tests.fakes.upstream import Answer, FakeUpstream


@pytest.fixture(scope="module")
def fake():
    with FakeUpstream() as upstream:
        yield upstream


async def read_body(fake: FakeUpstream, path: str) -> tuple[list[bytes], Exception | None]:
    chunks, error = [], None
    async with httpx.AsyncClient(timeout=10) as client:
        try:
            async with client.stream("POST", fake.url + path, json={"model": "m"}) as response:
                async for chunk in response.aiter_raw():
                    chunks.append(chunk)
        except httpx.HTTPError as exc:
            error = exc
    return chunks, error


async def test_a_scripted_drop_reaches_the_client_as_an_unfinished_body_after_the_chunks_sent(fake):
    fake.set_script(Answer(text="abcdefgh", chunk_chars=4, drop_after_chunks=1))
    chunks, error = await read_body(fake, "/api/chat")
    body = b"".join(chunks)
    assert b'"content": "abcd"' in body and b"efgh" not in body
    assert isinstance(error, httpx.RemoteProtocolError)
    assert "incomplete chunked read" in str(error)


async def test_a_drip_reaches_the_client_in_many_pieces(fake):
    fake.set_script(Answer(text="abcdefgh", drip_bytes=1, drip_delay_s=0.001))
    chunks, error = await read_body(fake, "/v1/messages")
    assert error is None
    assert len(chunks) > 10
    assert b"event: message_stop" in b"".join(chunks)


async def test_one_script_serves_every_path_and_each_call_records_its_path(fake):
    words = ["one", "two", "six", "ten"]  # one chunk each
    fake.set_script(*(Answer(text=word) for word in words))
    fake.calls.clear()
    paths = ["/v1/chat/completions", "/v1/messages", "/api/chat", "/v1/responses"]
    bodies = [b"".join((await read_body(fake, path))[0]) for path in paths]
    assert [call["path"] for call in fake.calls] == paths
    assert all(f'"{word}"'.encode() in body for word, body in zip(words, bodies, strict=True))
    assert fake.base_url == fake.url + "/v1"
