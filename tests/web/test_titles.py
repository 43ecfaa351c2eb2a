"""Conversation titles: the question's words by default; with UNBROKEN_TITLES=model, one plain
request after the first answer, which never takes an answer's slot and never overrides a rename."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest

from app.engine.titles import TITLE_MAX_TOKENS, TITLE_PROMPT
from tests.fakes.upstream import Answer
from tests.web.test_upstream_resilience import finish

pytestmark = pytest.mark.workers


def ask(base: str, content: str) -> tuple[str, str]:
    created = httpx.post(f"{base}/api/runs", json={"content": content, "client_request_id": uuid.uuid4().hex}).json()
    return created["run_id"], created["conversation_id"]


def title_of(base: str, conversation_id: str) -> str:
    return httpx.get(f"{base}/api/conversations/{conversation_id}").json()["title"]


def wait_for_title(base: str, conversation_id: str, title: str, timeout_s: float = 10) -> None:
    deadline = time.monotonic() + timeout_s
    while title_of(base, conversation_id) != title:
        assert time.monotonic() < deadline, f"the title stayed {title_of(base, conversation_id)!r}"
        time.sleep(0.05)


def test_by_default_the_title_is_the_question_and_costs_no_request(api_against, upstream):
    base = api_against(upstream).url
    run_id, conversation_id = ask(base, "  How do   zebras sleep?  ")
    finish(base, run_id)
    assert title_of(base, conversation_id) == "How do zebras sleep?"
    assert len(upstream.calls) == 1


def test_a_suggested_title_is_one_plain_request_after_the_answer(api_against, upstream):
    upstream.set_script(Answer(text="They sleep standing up."), Answer(text='"Zebra Sleep Habits."\n'))
    base = api_against(upstream, titles="model").url
    run_id, conversation_id = ask(base, "How do zebras sleep?")
    run, _ = finish(base, run_id)
    wait_for_title(base, conversation_id, "Zebra Sleep Habits")
    answer, title = upstream.calls
    assert answer["body"]["stream"] is True and title["body"]["stream"] is False
    assert title["body"]["max_tokens"] == TITLE_MAX_TOKENS
    assert title["body"]["messages"][0] == {"role": "system", "content": TITLE_PROMPT}
    assert title["body"]["messages"][-1] == {"role": "user", "content": "How do zebras sleep?"}


def test_a_title_request_never_takes_an_answers_slot(api_against, upstream):
    upstream.set_script(
        Answer(text="First answer."),
        Answer(text="Slow title", chunk_chars=1, delay_s=0.2),  # about two seconds, holding no slot
        Answer(text="Second answer."),
    )
    base = api_against(upstream, titles="model", provider_concurrency=1).url
    first_run, first_conversation = ask(base, "First question")
    finish(base, first_run)
    deadline = time.monotonic() + 10
    while len(upstream.calls) < 2:  # the title request is under way
        assert time.monotonic() < deadline
        time.sleep(0.02)
    second_run, _ = ask(base, "Second question")
    run, events = finish(base, second_run)
    assert run["text"] == "Second answer."
    assert "queued" not in [data.get("state") for _, kind, data in events]
    assert title_of(base, first_conversation) == "First question"  # the slow title has not arrived yet
    wait_for_title(base, first_conversation, "Slow title")


def test_a_renamed_conversation_gets_no_suggestion(api_against, upstream):
    # The answer takes a while (3 chunks, 0.2 s apart), so the rename lands before it completes.
    upstream.set_script(Answer(text="An answer.", delay_s=0.2))
    base = api_against(upstream, titles="model").url
    run_id, conversation_id = ask(base, "Original words")
    httpx.patch(f"{base}/api/conversations/{conversation_id}", json={"title": "My own title"})
    finish(base, run_id)
    again = httpx.post(f"{base}/api/runs", json={"content": "More", "conversation_id": conversation_id,
                                                 "client_request_id": uuid.uuid4().hex}).json()
    finish(base, again["run_id"])
    assert [call["body"]["stream"] for call in upstream.calls] == [True, True]  # answers only
    assert title_of(base, conversation_id) == "My own title"
