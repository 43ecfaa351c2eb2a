"""The lifecycle log of real runs: one JSON object per line, the fields operators need, no
message text unless asked for, and never a key — not even one the upstream echoes back."""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid

import pytest

from app.engine.lifecycle_log import LOGGER_NAME, JsonLinesFormatter
from tests.conftest import provider_settings
from tests.web import team as team_api
from tests.fakes.upstream import Answer
from tests.fakes.workers import WorkerDeployment
from tests.sse_client import read_events
from tests.web.test_upstream_resilience import ask, finish

pytestmark = pytest.mark.workers
QUESTION = "Please tell me about the lighthouse keeper"
ANSWER = "Once upon a time a lighthouse keeper counted ships."


class Lines:
    def wait_for(self, ready, timeout_s: float = 10.0) -> list[dict]:
        deadline = time.monotonic() + timeout_s
        while not ready(self.events()) and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.events()

    def events(self) -> list[dict]:
        return [json.loads(line) for line in self.lines]


class LineCollector(Lines, logging.Handler):
    """The lines exactly as the lifecycle handler of this process writes them."""

    def __init__(self) -> None:
        logging.Handler.__init__(self)
        self.setFormatter(JsonLinesFormatter())
        self._lines: list[str] = []
        self._lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        with self._lock:
            self._lines.append(self.format(record))

    @property
    def lines(self) -> list[str]:
        with self._lock:
            return list(self._lines)


class WorkerLines(Lines):
    """The lifecycle lines of every worker of a deployment, in the order of their timestamps,
    as an operator reads them merged (each worker writes its own; one run's lines may come
    from several: its answer from one, its event streams from others)."""

    def __init__(self, deployment: WorkerDeployment) -> None:
        self._logs = [worker.log for worker in deployment.workers]

    @property
    def lines(self) -> list[str]:
        found = [line for log in self._logs for line in log.read_text(errors="replace").splitlines()
                 if line.startswith('{"ts":') and line.endswith("}")]
        return sorted(found, key=lambda line: json.loads(line)["ts"])  # stable: one worker's stay in order


@pytest.fixture
def lifecycle_lines():
    """``lifecycle_lines(server)`` → its lifecycle lines from now on. In this process, attached
    after the server started (its logging set-up resets loggers); for workers, their logs."""
    logger = logging.getLogger(LOGGER_NAME)
    collector = LineCollector()
    level = logger.level

    def attach(server) -> Lines:
        if isinstance(server, WorkerDeployment):
            return WorkerLines(server)
        logger.setLevel(logging.INFO)
        logger.addHandler(collector)
        return collector

    yield attach
    logger.removeHandler(collector)
    logger.setLevel(level)


def two_runs(api_against, upstream, lifecycle_lines, **overrides):
    """A run refused with a key-echoing 401, then one that answers; the lines of both."""
    canary = "sk-CANARY-" + uuid.uuid4().hex
    upstream.set_script(Answer(status=401, echo_key_in_401=True))
    server = api_against(upstream, **{**provider_settings(upstream, "openai", key=canary), **overrides})
    base, lines = server.url, lifecycle_lines(server)
    refused, _ = finish(base, ask(base, QUESTION))
    assert refused["state"] == "failed"
    assert canary in str(upstream.calls[0]["headers"])  # it was sent, so the test could fail
    upstream.set_script(Answer(text=ANSWER))
    answered, _ = finish(base, ask(base, QUESTION + " again"))
    assert answered["state"] == "complete"
    events = lines.wait_for(lambda got: sum(e["event"] == "stream_close" for e in got) >= 2)
    return canary, refused, answered, events, lines.lines


def of(events: list[dict], run_id: str, name: str) -> list[dict]:
    return [e for e in events if e["run_id"] == run_id and e["event"] == name]


def test_each_line_is_a_json_event_with_the_run_and_no_text_or_key(api_against, upstream, lifecycle_lines):
    canary, refused, answered, events, lines = two_runs(api_against, upstream, lifecycle_lines)
    for line in lines:
        assert "\n" not in line
        event = json.loads(line)
        assert {"ts", "event", "run_id", "user_id"} <= event.keys()
        assert event["user_id"] == "local"
    text = "\n".join(lines)
    assert canary not in text
    assert QUESTION not in text and ANSWER not in text
    # The refused run: created, one attempt ended by the 401 (its error masked), failed.
    run_id = refused["run_id"]
    (created,) = of(events, run_id, "run_created")
    assert (created["provider"], created["model"], created["max_tokens"]) == ("openai", "gpt-4o-mini", None)
    (attempt_end,) = of(events, run_id, "attempt_end")
    assert (attempt_end["attempt"], attempt_end["outcome"], attempt_end["status"]) == (1, "auth", 401)
    assert "[redacted]" in attempt_end["error"]
    (end,) = of(events, run_id, "run_end")
    assert (end["from"], end["to"], end["error"]) == ("connecting", "failed", "auth")
    # The answered run: its states in order, its attempt, its event streams.
    run_id = answered["run_id"]
    assert [(e["from"], e["to"]) for e in of(events, run_id, "run_state")] == [
        ("queued", "connecting"), ("connecting", "streaming"),
    ]
    (start,) = of(events, run_id, "attempt_start")
    assert (start["attempt"], start["continued_from_chars"]) == (1, None)
    (attempt_end,) = of(events, run_id, "attempt_end")
    assert (attempt_end["outcome"], attempt_end["status"], attempt_end["wait_s"]) == ("ok", None, None)
    (end,) = of(events, run_id, "run_end")
    assert (end["to"], end["chars"], end["attempts"]) == ("complete", len(ANSWER), 1)
    opens, closes = of(events, run_id, "stream_open"), of(events, run_id, "stream_close")
    assert [(o["after_seq"], o["client"]) for o in opens] == [(0, "127.0.0.1")]
    assert closes[0]["closed_by"] == "server" and closes[0]["events"] > 0 and closes[0]["bytes"] > 0
    assert closes[0]["duration_ms"] >= 0
    names = [e["event"] for e in events if e["run_id"] == run_id]
    assert names.index("run_created") < names.index("attempt_start") < names.index("attempt_end")
    assert names.index("attempt_end") < names.index("run_end")


def test_message_text_is_logged_only_when_asked_and_the_key_still_never(api_against, upstream, lifecycle_lines):
    canary, refused, answered, events, lines = two_runs(api_against, upstream, lifecycle_lines, log_content=True)
    assert canary not in "\n".join(lines)
    assert of(events, refused["run_id"], "run_created")[0]["content"] == QUESTION
    assert of(events, answered["run_id"], "run_created")[0]["content"] == QUESTION + " again"
    assert of(events, answered["run_id"], "run_end")[0]["text"] == ANSWER


def test_a_reconnect_logs_its_resume_point(api_against, upstream, lifecycle_lines):
    upstream.set_script(Answer(text=ANSWER * 20, chunk_chars=8, delay_s=0.005))
    server = api_against(upstream)
    base, lines = server.url, lifecycle_lines(server)
    run_id = ask(base)
    first = read_events(base, run_id, stop_after=2)
    resumed_after = int(first.events[-1][0])
    read_events(base, run_id, last_event_id=str(resumed_after))
    events = lines.wait_for(lambda got: len(of(got, run_id, "stream_close")) >= 2)
    assert [e["after_seq"] for e in of(events, run_id, "stream_open")] == [0, resumed_after]
    assert [e["closed_by"] for e in of(events, run_id, "stream_close")] == ["client", "server"]


def test_lines_name_the_user_whose_run_it_is(api_against, upstream, lifecycle_lines):
    upstream.set_script(Answer(text=ANSWER))
    server = api_against(upstream, **team_api.TEAM_SETTINGS)
    team = team_api.Team(server.url, upstream)
    team.sign_up("admin")  # the first account takes over the local user
    alice = team.sign_up("alice")
    alice_id = alice.get("/api/me").json()["id"]
    collector = lifecycle_lines(server)
    run_id = team_api.ask(alice, QUESTION).json()["run_id"]
    with alice.stream("GET", f"/api/runs/{run_id}/events") as stream:
        stream.read()
    lines = collector.wait_for(lambda events: of(events, run_id, "stream_close"))
    mine = [line for line in lines if line.get("run_id") == run_id]
    assert {"run_created", "attempt_start", "run_end", "stream_open", "stream_close"} <= {line["event"] for line in mine}
    assert {line["user_id"] for line in mine} == {alice_id}
    assert alice_id != "local"
