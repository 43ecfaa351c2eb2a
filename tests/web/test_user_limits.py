"""Per-user limits refuse before any upstream spend: a clear 429 (or 413) with Retry-After,
and the upstream never hears of the refused request."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.fakes.upstream import Answer
from tests.web.team import ask, wait_ended, wait_until

pytestmark = pytest.mark.workers
SLOW = Answer(text="slow " * 40, chunk_chars=5, delay_s=0.1)  # about 4 s


def test_the_third_concurrent_answer_is_refused_before_the_upstream_is_called(team_of, upstream):
    upstream.set_script(SLOW)
    team = team_of()
    alice = team.sign_up("alice")
    first, second = ask(alice, "one"), ask(alice, "two")
    assert (first.status_code, second.status_code) == (201, 201)
    wait_until(lambda: len(upstream.calls) == 2, what="both answers upstream")

    third = ask(alice, "three")
    assert third.status_code == 429
    assert third.json()["error"]["code"] == "too_many_runs"
    assert int(third.headers["Retry-After"]) > 0
    assert len(upstream.calls) == 2

    # Another user has their own allowance; and once one of A's answers stops, A may ask again.
    assert ask(team.sign_up("bob"), "bob's").status_code == 201
    alice.post(f"/api/runs/{first.json()['run_id']}/stop")
    assert ask(alice, "three again").status_code == 201


def test_requests_sent_at_once_start_no_more_answers_than_the_limit(team_of, upstream):
    """Six at the same moment (with workers, two on each): exactly two start. A user's limit
    check and answer start are one step, whichever worker takes the request."""
    upstream.set_script(SLOW)
    alice = team_of().sign_up("alice")
    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda n: ask(alice, f"at once {n}"), range(6)))
    assert sorted(answer.status_code for answer in answers) == [201, 201, 429, 429, 429, 429]
    assert {answer.json()["error"]["code"] for answer in answers if answer.status_code == 429} == {"too_many_runs"}
    wait_until(lambda: len(upstream.calls) == 2, what="both answers upstream")



def test_a_continue_and_a_new_message_at_once_start_no_more_answers_than_the_limit(team_of, upstream):
    """Continue claims a stopped answer before its runner writes a new state: the claim counts
    against the limit from that moment, so a message sent at the same time cannot slip past it."""
    upstream.set_script(SLOW)
    alice = team_of(concurrent_runs=1).sign_up("alice")
    for attempt in range(3):  # each pair starts one answer: stop it, and the next pair continues it
        first = ask(alice, f"one {attempt}")
        assert first.status_code == 201
        run_id = first.json()["run_id"]
        wait_until(lambda: upstream.calls, what="the answer upstream")
        alice.post(f"/api/runs/{run_id}/stop")
        wait_ended(alice, run_id)
        with ThreadPoolExecutor(2) as pool:
            continued = pool.submit(alice.post, f"/api/runs/{run_id}/continue")
            new = pool.submit(ask, alice, f"two {attempt}")
            responses = [continued.result(), new.result()]
        assert sorted(response.status_code for response in responses) in ([200, 429], [201, 429]), \
            [(response.status_code, response.text) for response in responses]
        for response in responses:  # the one that started: stopped again, for the next pair
            if response.status_code != 429:
                started = response.json()["run_id"]
                alice.post(f"/api/runs/{started}/stop")
                wait_ended(alice, started)

def test_the_sixty_first_message_in_a_minute_is_refused_before_the_upstream_is_called(team_of, upstream):
    upstream.set_script(Answer(text="ok"))
    team = team_of(concurrent_runs=100)
    alice = team.sign_up("alice")
    created = [ask(alice, f"message {n}") for n in range(60)]
    assert {response.status_code for response in created} == {201}
    wait_until(lambda: len(upstream.calls) == 60, what="sixty answers upstream")

    refused = ask(alice, "message 61")
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "too_many_messages"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    first_run = created[0].json()["run_id"]
    wait_ended(alice, first_run)
    retried = alice.post(f"/api/runs/{first_run}/retry")  # a new answer: a message too
    assert retried.status_code == 429
    assert len(upstream.calls) == 60


def test_an_admin_set_limit_replaces_the_instance_default_for_that_user(team_of, upstream):
    upstream.set_script(SLOW)
    team = team_of()
    admin, bob = team.sign_up("admin"), team.sign_up("bob")
    bob_id = bob.get("/api/me").json()["id"]
    assert admin.patch(f"/api/admin/users/{bob_id}", json={"concurrent_runs": 1}).status_code == 200
    assert ask(bob, "one").status_code == 201
    assert ask(bob, "two").status_code == 429
    assert ask(admin, "admin keeps two").status_code == 201
    assert ask(admin, "admin's second").status_code == 201


def test_oversized_input_is_refused_with_413(team_of, upstream):
    team = team_of(max_content_chars=100, max_request_bytes=2048)
    alice = team.sign_up("alice")
    too_long = ask(alice, "x" * 101)
    assert too_long.status_code == 413
    assert too_long.json()["error"]["code"] == "content_too_long"
    too_big = ask(alice, "hi", system_prompt="y" * 4000)
    assert too_big.status_code == 413
    assert too_big.json()["error"]["code"] == "request_too_large"
    over_cap = ask(alice, "hi", max_tokens=10**9)
    assert over_cap.status_code == 400
    assert upstream.calls == []
