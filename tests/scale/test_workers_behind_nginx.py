"""Three worker processes on Postgres and Redis behind nginx (issue: scale out).

Real servers on loopback: a fresh database of the test Postgres cluster, the test
redis-server, three worker processes (``tests/fakes/api_worker.py``: the API of a
``ChatService``, the built-in demo provider) started at once on an empty database, and
Debian's nginx running deploy/nginx/unbroken.conf with one ``server`` line per worker, which
sends each new connection to the next worker in turn.

- an SSE client that reconnects every few events lands on every worker in turn and gets the
  exact text, each event once;
- ``kill -9`` of the worker answering a run mid-answer: another worker takes the run over
  within 10 s, and the text ends complete with nothing doubled;
- every worker's ``/metrics`` shows the whole deployment, and a killed worker's open
  streams leave the gauge while its counts stay.
"""

from __future__ import annotations

import time

import httpx
import pytest

from app.engine.metrics import SHARED_REFRESH_S
from app.engine.providers.demo import demo_answer
from app.settings import Settings
from tests.fakes.workers import WorkerDeployment
from tests.metrics_scrape import scrape, scrape_until
from tests.sse_client import read_events

WORKERS = 3
TAKEOVER_LIMIT_S = 10.0


@pytest.fixture
def deployment(postgres_cluster, redis_server, tmp_path):
    settings = Settings(
        database_url=postgres_cluster.new_database(), redis_url=redis_server.url, demo="on", demo_tokens_per_s=60,
        run_lease_s=2, heartbeat_interval_s=1, sse_retry_ms=100,
    )
    with WorkerDeployment(settings, tmp_path, count=WORKERS) as running:
        yield running


def ask(base_url: str, content: str) -> str:
    response = httpx.post(f"{base_url}/api/runs", json={"content": content, "client_request_id": content}, timeout=10)
    assert response.status_code == 201, response.text
    return response.json()["run_id"]


def read_to_the_end(base_url: str, run_id: str, after: int, events_per_connection: int | None,
                    deadline_s: float = 60.0) -> list[tuple[int, str, dict]]:
    """Reconnect with Last-Event-ID until the run's ``complete`` end; every event received."""
    got: list[tuple[int, str, dict]] = []
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        received = read_events(base_url, run_id, last_event_id=str(after), stop_after=events_per_connection)
        for event_id, kind, data in received.events:
            got.append((int(event_id), kind, data))
            after = int(event_id)
        if got and got[-1][1] == "end" and got[-1][2]["state"] == "complete":
            return got
    raise AssertionError(f"no complete end within {deadline_s} s; last events: {got[-3:]}")


def text_of(events) -> str:
    return "".join(data["text"] for _, kind, data in events if kind == "delta")


def test_a_client_reconnecting_to_every_worker_in_turn_gets_the_exact_text(deployment):
    question = "Reconnect through three workers"
    run_id = ask(deployment.url, question)
    events = read_to_the_end(deployment.url, run_id, after=0, events_per_connection=3)

    assert text_of(events) == demo_answer(question)
    assert [seq for seq, _, _ in events] == list(range(1, len(events) + 1))  # each event once, in order
    served = [worker.streams_opened(run_id) for worker in deployment.workers]
    assert all(count > 0 for count in served), served  # the reconnects landed on every worker
    final = httpx.get(f"{deployment.url}/api/runs/{run_id}", timeout=10).json()
    assert (final["state"], final["text"]) == ("complete", demo_answer(question))


def test_kill_9_of_the_answering_worker_hands_the_run_to_another_within_10_s(deployment):
    question = "Survive a kill -9 of the worker that answers"
    run_id = ask(deployment.url, question)
    before = read_events(deployment.url, run_id, stop_after=8).events
    owner = deployment.owner_of(run_id)
    victim = deployment.worker_of(owner)
    victim.kill()
    killed_at = time.monotonic()
    while deployment.owner_of(run_id) == owner:
        assert time.monotonic() - killed_at < TAKEOVER_LIMIT_S, "no worker took the run over"
        time.sleep(0.05)
    took_s = time.monotonic() - killed_at

    rest = read_to_the_end(deployment.url, run_id, after=int(before[-1][0]), events_per_connection=None)
    events = [(int(seq), kind, data) for seq, kind, data in before] + rest
    assert [seq for seq, _, _ in events] == list(range(1, len(events) + 1))
    assert text_of(events) == demo_answer(question)  # complete, nothing doubled at the seam
    states = [data["state"] for _, kind, data in events if kind != "delta"]
    assert "interrupted" in states and states[states.index("interrupted") + 1] == "continuing"
    final = httpx.get(f"{deployment.url}/api/runs/{run_id}", timeout=10).json()
    assert (final["state"], final["text"]) == ("complete", demo_answer(question))
    assert "server_restart" in [a.get("outcome") for a in final["attempts"]]
    assert took_s < TAKEOVER_LIMIT_S


def test_every_worker_shows_the_whole_deployments_metrics_and_forgets_a_killed_ones_streams(deployment):
    run_id = ask(deployment.url, "Count me on every worker")
    with httpx.Client(timeout=10) as client, client.stream("GET", f"{deployment.url}/api/runs/{run_id}/events") as response:
        chunks = response.iter_raw()  # kept: a dropped iterator would close the response
        next(chunks)
        holder = next(worker for worker in deployment.workers if worker.streams_opened(run_id))
        for worker in deployment.workers:  # each worker, not through nginx
            assert scrape(f"http://127.0.0.1:{worker.port}").value("unbroken_sse_streams_open") == 1
        holder.kill()
        survivor = next(worker for worker in deployment.workers if worker is not holder)
        after = scrape_until(f"http://127.0.0.1:{survivor.port}",
                             lambda s: s.value("unbroken_sse_streams_open") == 0, timeout_s=5 * SHARED_REFRESH_S)
    assert after.value("unbroken_sse_streams_open") == 0
    assert after.value("unbroken_sse_streams_opened_total") == 1  # the dead worker's count stays
