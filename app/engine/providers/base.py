"""The provider abstraction: a chat request in, text deltas and one end marker out.

Each wire format is a small adapter behind ``Provider.stream``. An adapter yields
``TextDelta`` items and, only when the upstream said the answer is finished, one
``StreamEnd``. A stream that stops without it is not finished: the runner treats that as
``IncompleteStream``, never as ``complete``.
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import AsyncIterator


@dataclasses.dataclass(frozen=True, slots=True)
class ChatMessage:
    role: str  # "system" | "user" | "assistant"
    content: str


@dataclasses.dataclass(frozen=True)
class ChatRequest:
    messages: tuple[ChatMessage, ...]
    model: str
    max_tokens: int | None = None
    temperature: float | None = None  # None: the provider's default
    # The answer so far, when re-asking after a mid-answer failure: the provider asks the
    # model to go on from exactly there (native prefill where the API has it).
    prefix: str = ""


@dataclasses.dataclass(frozen=True, slots=True)
class TextDelta:
    text: str


@dataclasses.dataclass(frozen=True, slots=True)
class StreamEnd:
    finish_reason: str  # "stop" | "length" | provider-specific; "length" means truncated


@dataclasses.dataclass(frozen=True, slots=True)
class Usage:
    """The provider's own count of the answer's tokens (this request's output), when it reports one."""

    output_tokens: int


StreamItem = TextDelta | StreamEnd | Usage


def usage_of(value: object) -> list[Usage]:
    """``[Usage(n)]`` for a whole number of tokens a provider reported, else ``[]``."""
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
    return [Usage(value)] if ok else []


class Provider(abc.ABC):
    name: str  # short id used in configuration and stored on runs, e.g. "openai"
    label: str  # what a person reads, e.g. "OpenAI-compatible (api.example.com)"
    default_model: str
    is_demo: bool = False
    answers_whole: bool = False  # whole_answer works: the provider can be asked without streaming

    @abc.abstractmethod
    def stream(self, request: ChatRequest) -> AsyncIterator[StreamItem]:
        """Yield the answer; raise ``errors.UpstreamError`` subclasses on failure."""

    async def whole_answer(self, request: ChatRequest) -> list[StreamItem]:
        """The answer asked for without streaming, at once: its text, then the ``StreamEnd`` when
        the provider said it is finished. For paths where streams break but plain requests work
        (``fallback.StreamFallback``); only where ``answers_whole``."""
        raise NotImplementedError(f"{self.name} cannot be asked without streaming")


class WrappedProvider(Provider, abc.ABC):
    """A provider that changes how ``inner`` is asked, under ``inner``'s name and label (the
    run's attempts, errors and metrics still speak of the real provider)."""

    def __init__(self, inner: Provider) -> None:
        self.inner = inner
        self.name, self.label, self.default_model = inner.name, inner.label, inner.default_model
        self.is_demo, self.answers_whole = inner.is_demo, inner.answers_whole

    async def whole_answer(self, request: ChatRequest) -> list[StreamItem]:
        return await self.inner.whole_answer(request)
