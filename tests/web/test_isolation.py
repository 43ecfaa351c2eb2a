"""Two users on one instance: nothing of A's is reachable by B — every read and every change
answers 404, exactly like an id that does not exist — and run ids cannot be guessed."""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
import uuid

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware

from app.engine.run_input import RunRequest
from app.engine.service import ChatService
from app.web.access import AccessGate
from app.web.routes import api_routes
from tests.fakes.upstream import Answer
from tests.web.team import ask, wait_ended

RANDOM_RUN_IDS = 10_000
GUESSES_AT_ONCE = 20


@pytest.fixture
def team(team_of, upstream):
    upstream.set_script(Answer(text="A's private answer about the merger."))
    return team_of()


@pytest.mark.workers
def test_b_can_neither_see_nor_touch_anything_of_a(team):
    alice, bob = team.sign_up("alice"), team.sign_up("bob")
    created = ask(alice, "A's private question").json()
    run_id, conversation_id = created["run_id"], created["conversation_id"]
    assert wait_ended(alice, run_id)["text"] == "A's private answer about the merger."
    before = alice.get(f"/api/conversations/{conversation_id}").json()

    assert bob.get("/api/conversations").json() == {"conversations": []}
    assert bob.get("/api/conversations", params={"q": "merger"}).json() == {"conversations": []}
    attempts = [
        ("GET", f"/api/conversations/{conversation_id}", None),
        ("PATCH", f"/api/conversations/{conversation_id}", {"title": "Mine now"}),
        ("POST", f"/api/conversations/{conversation_id}/branch", {"message_id": before["messages"][0]["id"]}),
        ("DELETE", f"/api/conversations/{conversation_id}", None),
        ("GET", f"/api/runs/{run_id}", None),
        ("GET", f"/api/runs/{run_id}/events", None),
        ("GET", f"/api/runs/{run_id}/poll?after=0", None),
        ("POST", f"/api/runs/{run_id}/stop", None),
        ("POST", f"/api/runs/{run_id}/continue", None),
        ("POST", f"/api/runs/{run_id}/retry", None),
        ("GET", f"/api/runs/{run_id}/timeline", None),
        ("GET", f"/api/runs/{run_id}/report", None),
        ("POST", f"/api/runs/{run_id}/client-events", {"sent_at": 0, "events": []}),
        ("POST", "/api/runs", {"content": "Add to A's chat", "client_request_id": uuid.uuid4().hex,
                               "conversation_id": conversation_id}),
    ]
    for method, path, body in attempts:
        response = bob.request(method, path, json=body)
        assert response.status_code == 404, (method, path, response.text)
        assert "merger" not in response.text

    # The same 404 as for ids that never existed: nothing tells B that A's ids are real.
    assert bob.get(f"/api/runs/{run_id}").json() == bob.get(f"/api/runs/{secrets.token_urlsafe(16)}").json()
    assert alice.get(f"/api/conversations/{conversation_id}").json() == before
    assert len(team.upstream.calls) == 1  # nothing B sent reached the upstream


@pytest.mark.workers
def test_the_same_client_request_id_from_another_user_starts_their_own_run(team):
    alice, bob = team.sign_up("alice"), team.sign_up("bob")
    shared_id = uuid.uuid4().hex
    a_run = ask(alice, "A's question", client_request_id=shared_id).json()
    b_run = ask(bob, "B's question", client_request_id=shared_id)
    assert b_run.status_code == 201  # created, not A's run handed back
    assert b_run.json()["run_id"] != a_run["run_id"]
    assert b_run.json()["conversation_id"] != a_run["conversation_id"]
    # Each user's resend still finds their own run.
    assert ask(alice, "A's question", client_request_id=shared_id).json()["run_id"] == a_run["run_id"]


async def test_ten_thousand_random_run_ids_find_nothing(settings):
    """Run ids carry 128 random bits; guessing through the API (gate and routes, in process)
    finds no run — here with 50 real runs of the same user in the database."""
    service = ChatService(dataclasses.replace(settings, auth="password", concurrent_runs=60))
    await service.start()
    try:
        alice = await asyncio.to_thread(service.accounts.sign_up, "alice", "correct horse battery")
        for n in range(50):
            await service.start_run(alice, RunRequest(content=f"q{n}", client_request_id=uuid.uuid4().hex))
        app = Starlette(routes=api_routes(service), middleware=[Middleware(AccessGate, service=service)])
        token = service.accounts.create_token(alice, "guessing")[1]
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test",
                                     headers={"Authorization": f"Bearer {token}"}) as client:
            async def guess() -> int:
                return (await client.get(f"/api/runs/{secrets.token_urlsafe(16)}")).status_code

            statuses = set()
            for _ in range(RANDOM_RUN_IDS // GUESSES_AT_ONCE):  # in rounds, as a guessing script would
                statuses.update(await asyncio.gather(*(guess() for _ in range(GUESSES_AT_ONCE))))
        assert statuses == {404}
    finally:
        await service.close()

