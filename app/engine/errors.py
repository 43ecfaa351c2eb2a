"""The one error tree of upstream calls, split by what the runner does with it.

    UpstreamError                 every failure talking to a provider; carries fields
    ├── RetryableError            try again (later): the answer may still come
    │   ├── TransportError        connection refused / reset / dropped mid-stream
    │   ├── UpstreamTimeout       connect, first token or idle gap (a stalled stream)
    │   ├── RateLimited          429 (not insufficient_quota); honours retry_after
    │   ├── Overloaded           503 / 529 / overloaded_error
    │   ├── ServerError          other 5xx, 408, 409
    │   └── IncompleteStream     the stream ended without the provider's end marker
    └── PermanentError            retrying cannot help; the run fails with words a person reads
        ├── AuthError            401 / 403: the key was rejected
        ├── BadRequest           400 / 404 / 422, or a malformed answer
        ├── QuotaExceeded        insufficient_quota, budget gone
        └── DeadlineExceeded     the run's total time is up

httpx exceptions and HTTP statuses are translated here and nowhere else
(``from_httpx``, ``from_status``). Messages never contain a provider key: bodies quoted from
the upstream pass through ``redact`` first.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

import httpx

_KEY_PATTERN = re.compile(r"\b(sk|key|api)[-_][A-Za-z0-9_\-]{6,}", re.IGNORECASE)
_BODY_EXCERPT_CHARS = 300


class UpstreamError(Exception):
    cause = "upstream_error"

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        status: int | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.status = status
        self.retry_after_s = retry_after_s


class RetryableError(UpstreamError):
    pass


class TransportError(RetryableError):
    cause = "transport"


class UpstreamTimeout(RetryableError):
    cause = "timeout"


class RateLimited(RetryableError):
    cause = "rate_limited"


class Overloaded(RetryableError):
    cause = "overloaded"


class ServerError(RetryableError):
    cause = "server_error"


class IncompleteStream(RetryableError):
    cause = "incomplete_stream"


class PermanentError(UpstreamError):
    pass


class AuthError(PermanentError):
    cause = "auth"


class BadRequest(PermanentError):
    cause = "bad_request"


class QuotaExceeded(PermanentError):
    cause = "quota"


class DeadlineExceeded(PermanentError):
    cause = "deadline"


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """Mask configured secrets and anything shaped like an API key."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    return _KEY_PATTERN.sub("[redacted]", text)


def from_httpx(provider: str, exc: httpx.HTTPError) -> UpstreamError:
    """Translate a transport-level httpx exception (status errors go through ``from_status``)."""
    if isinstance(exc, httpx.TimeoutException):
        return UpstreamTimeout(f"{provider} did not answer in time ({type(exc).__name__})", provider=provider)
    if isinstance(exc, httpx.RemoteProtocolError):
        return TransportError(f"The connection to {provider} closed unexpectedly", provider=provider)
    return TransportError(f"Could not reach {provider} ({type(exc).__name__})", provider=provider)


def error_message_of(body: str) -> str:
    """The human part of an error body: ``error.message`` (OpenAI, Anthropic), ``error`` (Ollama),
    ``message``, else the body itself."""
    try:
        parsed = json.loads(body)
    except ValueError:
        return body
    if isinstance(parsed, dict):
        error = parsed.get("error", parsed)
        if isinstance(error, str):
            return error
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return error["message"]
    return body


def from_status(
    provider: str, status: int, body: str, retry_after_s: float | None, secrets: Iterable[str | None] = ()
) -> UpstreamError:
    """Translate a non-success HTTP answer; the body's message is quoted (shortened, redacted)."""
    excerpt = redact(error_message_of(body.strip()).strip(), secrets)[:_BODY_EXCERPT_CHARS]
    said = f": {excerpt}" if excerpt else ""
    fields = {"provider": provider, "status": status, "retry_after_s": retry_after_s}
    if status in (401, 403):
        return AuthError(f"The API key was rejected by {provider} (HTTP {status}){said}", **fields)
    if status == 429 and "insufficient_quota" in body:
        return QuotaExceeded(f"{provider} says the account's quota is used up (HTTP 429){said}", **fields)
    if status == 429:
        return RateLimited(f"{provider} is rate-limiting requests (HTTP 429){said}", **fields)
    if status in (503, 529):
        return Overloaded(f"{provider} is overloaded (HTTP {status}){said}", **fields)
    if status >= 500 or status in (408, 409):
        return ServerError(f"{provider} had a server error (HTTP {status}){said}", **fields)
    return BadRequest(f"{provider} refused the request (HTTP {status}){said}", **fields)
