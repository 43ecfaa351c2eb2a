"""Conversation titles: the first question's words, or — with ``UNBROKEN_TITLES=model`` — a few
words the conversation's model suggests once its first answer is complete.

A suggested title is a side request and never stands in an answer's way: it is one plain
(non-streamed) request, sent after the answer ended, outside the provider's answer slots (it
neither queues an answer nor waits behind one), and its failure only leaves the question's
words. It replaces the title only while that is still the question's words: a rename wins.
The demo provider suggests nothing (its text is not a model's).
"""

from __future__ import annotations

from app.engine.providers.base import ChatMessage, ChatRequest, Provider, TextDelta

TITLE_CHARS = 60
TITLE_PROMPT = ("Write a title of at most six words for a conversation that begins with the user's message "
                "below. Reply with the title only, without quotes.")
TITLE_MAX_TOKENS = 24
QUESTION_CHARS_SENT = 2000


def question_title(content: str) -> str:
    return " ".join(content.split())[:TITLE_CHARS] or "New chat"


def clean_title(text: str) -> str | None:
    """A model's reply → a title: its first line, without quotes, markup or a final full stop."""
    line = next((line for line in text.splitlines() if line.strip()), "")
    title = " ".join(line.strip().strip("\"'`*#_“”").removeprefix("Title:").split()).rstrip(".").strip()
    return title[:TITLE_CHARS] or None


async def suggest_title(provider: Provider, model: str, question: str) -> str | None:
    request = ChatRequest(
        messages=(ChatMessage("system", TITLE_PROMPT), ChatMessage("user", question[:QUESTION_CHARS_SENT])),
        model=model, max_tokens=TITLE_MAX_TOKENS,
    )
    items = await provider.whole_answer(request)
    return clean_title("".join(item.text for item in items if isinstance(item, TextDelta)))
