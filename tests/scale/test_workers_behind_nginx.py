"""Three worker processes on Postgres and Redis behind nginx (issue: scale out).

Real servers on loopback: a fresh database of the test Postgres cluster, the test
redis-server, three worker processes (``tests/fakes/api_worker.py``: the API of a
``ChatService``, the built-in demo provider) started at once on an empty database, and
Debian's nginx running deploy/nginx/unbroken.conf with one ``server`` line per worker, which
sends each new connection to the next worker in turn.

- an SSE client that reconnects every few events lands on every worker in turn and gets the
  exact text, each event once;
- ``kill -9`` of the worker answering a run mid-answer: another worker takes the run over
  within 10 s, and the text ends complete with nothing doubled.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import sqlalchemy

from app.engine.providers.demo import demo_answer
from tests.fakes.nginx import NginxProxy
from tests.fakes.server import free_port
from tests.sse_client import read_events

WORKERS = 3
START_TIMEOUT_S = 60.0
TAKEOVER_LIMIT_S = 10.0
ROOT = Path(__file__).resolve().parents[2]


@dataclasses.dataclass
class WorkerProcess:
    port: int
    process: subprocess.Popen
    log: Path

    def streams_opened(self, run_id: str) -> int:
        """Event streams of ``run_id`` this worker served (its lifecycle log says so)."""
        return sum('"event":"stream_open"' in line and run_id in line
                   for line in self.log.read_text(errors="replace").splitlines())


class Deployment:
    def __init__(self, database_url: str, redis_url: str, folder: Path) -> None:
        self.database_url = database_url
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "UNBROKEN_DEMO": "on",
            "UNBROKEN_DEMO_TOKENS_PER_S": "60",
            "UNBROKEN_RUN_LEASE_S": "2",
            "UNBROKEN_HEARTBEAT_S": "1",
            "UNBROKEN_SSE_RETRY_MS": "100",
            "PYTHONUNBUFFERED": "1",
        }
        for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_API_KEY", "OLLAMA_HOST"):
            self.env.pop(name, None)
        self.folder = folder
        self.workers: list[WorkerProcess] = []
        self.nginx: NginxProxy | None = None

    def __enter__(self) -> Deployment:
        for number in range(WORKERS):  # all at once, on an empty database: they migrate in turn
            port, log = free_port(), self.folder / f"worker{number}.log"
            with log.open("wb") as out:
                process = subprocess.Popen(
                    [sys.executable, "-m", "tests.fakes.api_worker"], cwd=ROOT, env={**self.env, "PORT": str(port)},
                    stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                )
            self.workers.append(WorkerProcess(port, process, log))
        try:
            for worker in self.workers:
                self._wait_healthy(worker)
            self.nginx = NginxProxy([worker.port for worker in self.workers]).__enter__()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _wait_healthy(self, worker: WorkerProcess) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if worker.process.poll() is not None:
                raise RuntimeError(f"worker on {worker.port} exited:\n{worker.log.read_text(errors='replace')}")
            try:
                if httpx.get(f"http://127.0.0.1:{worker.port}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"worker on {worker.port} did not start:\n{worker.log.read_text(errors='replace')}")

    def __exit__(self, *exc) -> None:
        if self.nginx is not None:
            self.nginx.__exit__(None, None, None)
        for worker in self.workers:
            if worker.process.poll() is None:
                worker.process.terminate()
        for worker in self.workers:
            try:
                worker.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                worker.process.kill()
                worker.process.wait()

    @property
    def url(self) -> str:
        return self.nginx.url

    def owner_of(self, run_id: str) -> str | None:
        engine = sqlalchemy.create_engine(self.database_url.replace("postgresql://", "postgresql+psycopg://", 1))
        try:
            with engine.connect() as connection:
                return connection.execute(sqlalchemy.text("SELECT owner FROM run WHERE id = :id"),
                                          {"id": run_id}).scalar()
        finally:
            engine.dispose()

    def worker_of(self, owner: str) -> WorkerProcess:
        pid = int(owner.split(":")[1])  # leases.worker_id: host:pid:random
        return next(worker for worker in self.workers if worker.process.pid == pid)


@pytest.fixture
def deployment(postgres_cluster, redis_server, tmp_path):
    with Deployment(postgres_cluster.new_database(), redis_server.url, tmp_path) as running:
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
    victim.process.send_signal(signal.SIGKILL)
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
