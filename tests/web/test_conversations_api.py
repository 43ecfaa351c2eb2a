"""Conversations over HTTP: list and search, rename, settings, branches, delete (with
everything they hold)."""

from __future__ import annotations

import httpx
import pytest

from tests.fakes.upstream import Answer
from tests.sse_client import read_events

pytestmark = pytest.mark.workers


def ask(base: str, content: str, conversation_id: str | None = None, **fields) -> dict:
    body = {"content": content, "client_request_id": content + str(conversation_id), "conversation_id": conversation_id,
            **fields}
    created = httpx.post(f"{base}/api/runs", json=body).json()
    read_events(base, created["run_id"])
    return created


def thread(base: str, conversation_id: str) -> list[tuple[str, str, int, int]]:
    """The branch on screen: (role, content, version, versions) per message."""
    view = httpx.get(f"{base}/api/conversations/{conversation_id}").json()
    return [(m["role"], m["content"], m["version"], m["versions"]) for m in view["messages"]]


def sent_messages(upstream, call: int) -> list[tuple[str, str]]:
    return [(m["role"], m["content"]) for m in upstream.calls[call]["body"]["messages"]]


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
    renamed = httpx.patch(url, json={"title": "  New title "}).json()
    assert (renamed["id"], renamed["title"]) == (created["conversation_id"], "New title")
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


def test_edit_and_resend_starts_a_branch_and_the_old_one_stays_reachable(api_against, upstream):
    upstream.set_script(Answer(text="Paris."), Answer(text="Yes, it is old."), Answer(text="Rome."),
                        Answer(text="Rome again."))
    base = api_against(upstream).url
    first = ask(base, "Capital of France?")
    cid = first["conversation_id"]
    ask(base, "Is it old?", cid)
    question = httpx.get(f"{base}/api/conversations/{cid}").json()["messages"][0]
    edited = ask(base, "Capital of Italy?", cid, edit_of=question["id"])
    # The edited question asks without the old branch's messages.
    assert sent_messages(upstream, 2) == [("user", "Capital of Italy?")]
    assert thread(base, cid) == [("user", "Capital of Italy?", 2, 2), ("assistant", "Rome.", 1, 1)]
    # Regenerating is a second version of the answer, asked with the same context.
    retried = httpx.post(f"{base}/api/runs/{edited['run_id']}/retry", json={"client_request_id": "again"}).json()
    read_events(base, retried["run_id"])
    assert sent_messages(upstream, 3) == [("user", "Capital of Italy?")]
    assert thread(base, cid) == [("user", "Capital of Italy?", 2, 2), ("assistant", "Rome again.", 2, 2)]
    # Back to the first version of the question: its whole branch, as it was.
    shown = httpx.post(f"{base}/api/conversations/{cid}/branch", json={"message_id": question["id"]}).json()
    assert [(m["content"], m["version"]) for m in shown["messages"]] == [
        ("Capital of France?", 1), ("Paris.", 1), ("Is it old?", 1), ("Yes, it is old.", 1)
    ]
    assert shown["messages"][0]["next_version_id"] is not None
    assert thread(base, cid)[0] == ("user", "Capital of France?", 1, 2)  # remembered
    # A follow-up continues the branch on screen.
    ask(base, "And its river?", cid)
    assert sent_messages(upstream, 4)[:4] == [("user", "Capital of France?"), ("assistant", "Paris."),
                                              ("user", "Is it old?"), ("assistant", "Yes, it is old.")]


def test_branch_and_edit_refuse_what_does_not_fit(api_against, upstream):
    base = api_against(upstream).url
    first = ask(base, "Hello")
    cid = first["conversation_id"]
    other = ask(base, "Another conversation")
    answer_id = first["message_id"]
    calls = len(upstream.calls)
    for body, status in [
        ({"edit_of": answer_id}, 404),  # an answer is not edited, it is regenerated
        ({"edit_of": "nope"}, 404),
        ({"edit_of": answer_id, "conversation_id": None}, 400),
        ({"edit_of": 5}, 400),
    ]:
        response = httpx.post(f"{base}/api/runs", json={"content": "x", "client_request_id": str(body),
                                                         "conversation_id": cid, **body})
        assert response.status_code == status, body
    branch = f"{base}/api/conversations/{cid}/branch"
    assert httpx.post(branch, json={"message_id": other["message_id"]}).status_code == 404
    assert httpx.post(branch, json={}).status_code == 400
    assert httpx.post(f"{base}/api/conversations/nope/branch", json={"message_id": answer_id}).status_code == 404
    assert len(upstream.calls) == calls
    assert thread(base, cid) == [("user", "Hello", 1, 1), ("assistant", upstream.script[0].text, 1, 1)]


def test_conversation_settings_apply_to_its_next_answers(api_against, upstream):
    base = api_against(upstream, openai_models=("fake-model", "other-model")).url
    first = ask(base, "Hi", system_prompt="Answer in French.", temperature=0.2)
    cid = first["conversation_id"]
    body = upstream.calls[0]["body"]
    assert (body["messages"][0], body["temperature"]) == ({"role": "system", "content": "Answer in French."}, 0.2)
    url = f"{base}/api/conversations/{cid}"
    assert httpx.get(url).json()["settings"] == {"model": None, "system_prompt": "Answer in French.",
                                                 "max_tokens": None, "temperature": 0.2}
    changed = httpx.patch(url, json={"model": "openai:other-model", "max_tokens": 50, "temperature": None})
    assert changed.json()["settings"] == {"model": "openai:other-model", "system_prompt": "Answer in French.",
                                          "max_tokens": 50, "temperature": None}
    ask(base, "Again", cid)
    body = upstream.calls[1]["body"]
    assert (body["model"], body["max_tokens"], "temperature" in body) == ("other-model", 50, False)
    assert body["messages"][0]["role"] == "system"
    ask(base, "Once more, briefly", cid, max_tokens=5)  # a request's value overrides for that answer only
    assert upstream.calls[2]["body"]["max_tokens"] == 5
    assert httpx.get(url).json()["settings"]["max_tokens"] == 50


def test_bad_settings_are_refused_and_change_nothing(api_against, upstream):
    base = api_against(upstream).url
    cid = ask(base, "Hi", max_tokens=10)["conversation_id"]
    url = f"{base}/api/conversations/{cid}"
    before = httpx.get(url).json()["settings"]
    for body in [{"temperature": 2.5}, {"temperature": "hot"}, {"max_tokens": 0}, {"max_tokens": 1.5},
                 {"model": "nope:nothing"}, {"system_prompt": 7}, {"title": "ok", "max_tokens": -1},
                 {"colour": "blue"}, {}]:
        response = httpx.patch(url, json=body)
        assert response.status_code == 400, body
        assert response.json()["error"]["message"]
    assert httpx.get(url).json()["settings"] == before
    assert httpx.get(url).json()["title"] == "Hi"
    calls = len(upstream.calls)
    refused = httpx.post(f"{base}/api/runs", json={"content": "x", "client_request_id": "t", "temperature": -1})
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "bad_temperature"
    unknown = httpx.post(f"{base}/api/runs", json={"content": "x", "client_request_id": "u", "colour": "red"})
    assert unknown.status_code == 400 and unknown.json()["error"]["code"] == "unknown_field"
    assert len(upstream.calls) == calls
