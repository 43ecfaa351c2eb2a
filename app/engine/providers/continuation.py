"""Asking a model without native prefill to go on from a partial answer.

When ``ChatRequest.prefix`` holds the answer so far, the conversation is sent as it was,
then the partial answer as an assistant turn, then ``CONTINUE_INSTRUCTION`` as a user turn.
Models follow it well but not perfectly: the answer may repeat a few words of the prefix,
which the caller removes at the seam. APIs with native prefill (Anthropic) do not use this.
"""

from __future__ import annotations

from app.engine.providers.base import ChatRequest

CONTINUE_INSTRUCTION = (
    "Your previous answer was cut off. Continue it exactly where it stopped, starting with the "
    "very next character. Do not repeat any of it, do not comment on the interruption, and do "
    "not start over."
)


def messages_with_continuation(request: ChatRequest) -> list[dict[str, str]]:
    """The request's messages as role/content dicts, plus the continuation turns if any."""
    messages = [{"role": m.role, "content": m.content} for m in request.messages]
    if request.prefix:
        messages.append({"role": "assistant", "content": request.prefix})
        messages.append({"role": "user", "content": CONTINUE_INSTRUCTION})
    return messages
