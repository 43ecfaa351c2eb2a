"""Conversations over HTTP: list and search, rename, delete (with everything they hold)."""

from __future__ import annotations

import httpx

from tests.fakes.upstream import Answer
from tests.sse_client import read_events


def ask(base: str, content: str, conversation_id: str | None = None) -> dict:
    body = {"content": content, "client_request_id": content + str(conversation_id), "conversation_id": conversation_id}
    created = httpx.post(f"{base}/api/runs", json=body).json()
    read_events(base, created["run_id"])
    return created


def titles(base: str, q: str = "") -> list[str]:
    return [c["title"] for c in httpx.get(f"{base}/api/conversations", params={"q": q}).json()["conversations"]]


def test_search_finds_titles_and_message_text_newest_first(api_against, upstream):
    upstream.set_script(Answer(text="Paris is the capital."), Answer(text="Use 100% of the butter."))
    base = api_against(upstream).url
    ask(base, "Capital of France?")
    ask(base, "A cake recipe")
    assert titles(base) == ["A cake recipe", "Capital of France?"]
    assert titles(base, "FRANCE") == ["Capital of France?"]
    assert titles(base, "paris") == ["Capital of France?"]  # found in the answer
    assert titles(base, "100%") == ["A cake recipe"]  # LIKE wildcards are literal
    assert titles(base, "_") == []


def test_rename_and_delete(api_against, upstream):
    base = api_against(upstream).url
    created = ask(base, "Old title")
    url = f"{base}/api/conversations/{created['conversation_id']}"
    assert httpx.patch(url, json={"title": "  New title "}).json() == {"id": created["conversation_id"],
                                                                       "title": "New title"}
    assert titles(base) == ["New title"]
    assert httpx.patch(url, json={"title": " "}).status_code == 400
    assert httpx.patch(f"{base}/api/conversations/nope", json={"title": "x"}).status_code == 404
    assert httpx.delete(url).status_code == 204
    assert titles(base) == []
    assert httpx.get(f"{base}/api/runs/{created['run_id']}").status_code == 404
    assert httpx.delete(url).status_code == 404


def test_deleting_a_conversation_stops_its_answer_first(api_against, upstream):
    upstream.set_script(Answer(text="slow " * 200, delay_s=0.02))
    base = api_against(upstream).url
    body = {"content": "Long one", "client_request_id": "long"}
    created = httpx.post(f"{base}/api/runs", json=body).json()
    read_events(base, created["run_id"], stop_after=3)
    assert httpx.delete(f"{base}/api/conversations/{created['conversation_id']}").status_code == 204
    assert httpx.get(f"{base}/api/runs/{created['run_id']}").status_code == 404
    assert titles(base) == []
