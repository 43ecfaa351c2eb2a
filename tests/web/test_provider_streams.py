"""Every provider against the fake upstream on loopback, through every fault its format can have.

Each test drives a provider's ``stream()`` directly over a real ``httpx.AsyncClient`` (no
runner) and checks what the runner would be given: the text, at most one ``StreamEnd`` (only
when the upstream finished), and the error class that decides between retrying and failing.
"""

from __future__ import annotations

import dataclasses

import httpx
import pytest

from app.engine.errors import (
    AuthError,
    BadRequest,
    Overloaded,
    RateLimited,
    RetryableError,
    ServerError,
    TransportError,
    UpstreamError,
    UpstreamTimeout,
)
from app.engine.providers.anthropic import AnthropicProvider
from app.engine.providers.base import ChatMessage, ChatRequest, StreamEnd, TextDelta, Usage
from app.engine.providers.ollama import OllamaProvider
from app.engine.providers.openai import OpenAIProvider
from app.engine.providers.openai_responses import OpenAIResponsesProvider
from tests.fakes.upstream import Answer, FakeUpstream

TEXT = "The quick brown fox jumps over the lazy dog."
CHUNK_CHARS = 4
# Not shaped like a key, so only the provider's own redaction of its configured key can hide it.
KEY = "unshaped-secret-7f3a"

PROVIDERS = {
    "openai": (lambda client, fake: OpenAIProvider(client, fake.base_url, KEY, "gpt-fake"), "/v1/chat/completions"),
    "anthropic": (lambda client, fake: AnthropicProvider(client, fake.url, KEY, "claude-fake"), "/v1/messages"),
    "ollama": (lambda client, fake: OllamaProvider(client, fake.url, "llama-fake"), "/api/chat"),
    "openai-responses": (lambda client, fake: OpenAIResponsesProvider(client, fake.base_url, KEY, "gpt-fake"),
                         "/v1/responses"),
}
KEYED = [name for name in PROVIDERS if name != "ollama"]
IN_STREAM_ERRORS = {"openai": ServerError, "anthropic": Overloaded, "ollama": ServerError,
                    "openai-responses": ServerError}


@dataclasses.dataclass
class Outcome:
    text: str
    ends: list[StreamEnd]
    error: UpstreamError | None
    usage: list[Usage] = dataclasses.field(default_factory=list, compare=False)


@pytest.fixture(scope="module")
def fake():
    with FakeUpstream() as upstream:
        yield upstream


async def play(fake: FakeUpstream, name: str, answer: Answer, timeout: httpx.Timeout | None = None) -> Outcome:
    fake.set_script(dataclasses.replace(answer, chunk_chars=CHUNK_CHARS))
    fake.calls.clear()
    make, _ = PROVIDERS[name]
    text, ends, error, usage = "", [], None, []
    async with httpx.AsyncClient(timeout=timeout or httpx.Timeout(10.0)) as client:
        provider = make(client, fake)
        request = ChatRequest((ChatMessage("user", "Tell me about foxes"),), provider.default_model)
        try:
            async for item in provider.stream(request):
                if isinstance(item, TextDelta):
                    text += item.text
                elif isinstance(item, Usage):
                    usage.append(item)
                else:
                    ends.append(item)
        except UpstreamError as exc:
            error = exc
    return Outcome(text, ends, error, usage)


@pytest.mark.parametrize("name", PROVIDERS)
async def test_a_clean_answer_arrives_whole_with_one_end(fake, name):
    outcome = await play(fake, name, Answer(text=TEXT))
    assert outcome == Outcome(TEXT, [StreamEnd("stop")], None)
    assert [call["path"] for call in fake.calls] == [PROVIDERS[name][1]]


@pytest.mark.parametrize(("name", "reported"), [("openai", []), ("anthropic", [Usage(12)]), ("ollama", [Usage(12)]),
                                               ("openai-responses", [])])
async def test_the_providers_own_token_count_is_passed_on_when_it_sends_one(fake, name, reported):
    assert (await play(fake, name, Answer(text=TEXT))).usage == reported  # the fake's formats report 12


@pytest.mark.parametrize("name", PROVIDERS)
async def test_a_truncated_answer_ends_with_length(fake, name):
    outcome = await play(fake, name, Answer(text=TEXT, finish_reason="length"))
    assert outcome == Outcome(TEXT, [StreamEnd("length")], None)


@pytest.mark.parametrize("name", PROVIDERS)
async def test_a_drop_mid_body_is_a_transport_error_after_the_text_sent(fake, name):
    outcome = await play(fake, name, Answer(text=TEXT, drop_after_chunks=3))
    assert outcome.text == TEXT[: 3 * CHUNK_CHARS]
    assert outcome.ends == []
    assert isinstance(outcome.error, TransportError)


@pytest.mark.parametrize("name", PROVIDERS)
async def test_a_malformed_chunk_is_a_bad_request(fake, name):
    outcome = await play(fake, name, Answer(text=TEXT, malformed_after_chunks=1))
    assert outcome.text == TEXT[:CHUNK_CHARS]
    assert isinstance(outcome.error, BadRequest)
    assert "malformed" in outcome.error.message


@pytest.mark.parametrize("name", PROVIDERS)
async def test_an_in_stream_error_is_retryable(fake, name):
    outcome = await play(fake, name, Answer(text=TEXT, error_event_after_chunks=2))
    assert outcome.text == TEXT[: 2 * CHUNK_CHARS]
    assert outcome.ends == []
    assert type(outcome.error) is IN_STREAM_ERRORS[name]
    assert isinstance(outcome.error, RetryableError)


@pytest.mark.parametrize("name", PROVIDERS)
async def test_a_body_without_its_end_marker_yields_no_end(fake, name):
    outcome = await play(fake, name, Answer(text=TEXT, end_marker=False))
    assert outcome == Outcome(TEXT, [], None)


@pytest.mark.parametrize("name", PROVIDERS)
async def test_a_body_dripped_one_byte_at_a_time_parses_the_same(fake, name):
    outcome = await play(fake, name, Answer(text="Drip, drop, done.", drip_bytes=1))
    assert outcome == Outcome("Drip, drop, done.", [StreamEnd("stop")], None)


@pytest.mark.parametrize("name", PROVIDERS)
async def test_a_short_stall_is_waited_through(fake, name):
    outcome = await play(fake, name, Answer(text=TEXT, stall_after_chunks=2, stall_s=0.3))
    assert outcome == Outcome(TEXT, [StreamEnd("stop")], None)


@pytest.mark.parametrize("name", PROVIDERS)
async def test_a_stall_past_the_read_timeout_is_a_timeout(fake, name):
    answer = Answer(text=TEXT, stall_after_chunks=2, stall_s=0.3)
    outcome = await play(fake, name, answer, timeout=httpx.Timeout(5.0, read=0.1))
    assert outcome.text == TEXT[: 2 * CHUNK_CHARS]
    assert isinstance(outcome.error, UpstreamTimeout)


@pytest.mark.parametrize("name", PROVIDERS)
async def test_a_429_is_rate_limited_for_as_long_as_retry_after_says(fake, name):
    outcome = await play(fake, name, Answer(status=429, headers={"Retry-After": "2"}))
    assert isinstance(outcome.error, RateLimited)
    assert (outcome.error.status, outcome.error.retry_after_s) == (429, 2.0)


@pytest.mark.parametrize("name", ["openai", "openai-responses"])
async def test_a_429_without_retry_after_waits_for_the_longest_openai_rate_limit_reset(fake, name):
    headers = {"x-ratelimit-reset-requests": "1s", "x-ratelimit-reset-tokens": "1.5s"}
    outcome = await play(fake, name, Answer(status=429, headers=headers))
    assert isinstance(outcome.error, RateLimited)
    assert outcome.error.retry_after_s == 1.5


@pytest.mark.parametrize("name", PROVIDERS)
async def test_a_529_is_overloaded(fake, name):
    outcome = await play(fake, name, Answer(status=529))
    assert isinstance(outcome.error, Overloaded)
    assert outcome.error.status == 529


@pytest.mark.parametrize("name", KEYED)
async def test_a_401_quoting_the_key_fails_without_the_key(fake, name):
    outcome = await play(fake, name, Answer(status=401, echo_key_in_401=True))
    assert isinstance(outcome.error, AuthError)
    assert "Incorrect API key provided: [redacted]" in outcome.error.message
    assert KEY not in str(outcome.error) + outcome.error.message
    assert KEY in repr(fake.calls[0]["headers"])  # the key was sent, and the fake had it to echo
