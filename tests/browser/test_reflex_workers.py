"""The real app (``scripts/run``) with three worker processes on one port behind nginx, in Chromium.

With ``REDIS_URL`` set, ``reflex run --env prod`` serves the app from several granian worker
processes (``GRANIAN_WORKERS=3`` here), each with the app's lifespan and so its own
``ChatService``; Reflex keeps its state in Redis, runs have leases in Postgres, live events
and stop requests go between the workers through Redis. Which worker a tab's websocket, its
event stream or a button's request lands on is up to the kernel: the tests hold whatever the
landing. The pages are loaded through nginx running deploy/nginx/unbroken.conf, so the
answers' event streams and the buttons' requests pass through it (Reflex's websocket goes to
the app's port: the build names it, as in test_behind_nginx.py).

- an answer streams to its exact text, and a reload shows the same conversation;
- Stop in one of two tabs stops the answer in both, Continue goes on to the exact text;
- three workers each with a worker id of its own process (a service built before granian
  forked once named them all after the supervisor), the tab's Reflex state in Redis (Reflex
  reads REDIS_URL through rxconfig.py), and tabs answered by more than one worker, all of
  whose answers any worker's ``/metrics`` counts.

Runs against the session's ``workers_app`` (tests/browser/conftest.py: a copy of the
checkout with its own build, a fresh database of the test Postgres cluster, the test
redis-server), which the chat tests marked ``workers`` also run against.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import redis
import sqlalchemy

from app.engine.fanout import WORKER_CHANNEL
from app.engine.providers.demo import demo_answer
from tests.browser.clipboard import wait_for_clipboard
from tests.browser.conftest import WORKERS
from tests.browser.test_chat_page import ANSWER, END_OF_DEMO, ask, run_of, wait_state
from tests.browser.test_survival import stop_in_the_second_of_two_tabs, text_of
from tests.metrics_scrape import scrape, scrape_until

pytestmark = pytest.mark.browser

MAX_TABS = 12


@pytest.fixture
def context(browser):
    """With the clipboard: Copy gives the answer's text exactly as the page applied it."""
    context = browser.new_context(permissions=["clipboard-read", "clipboard-write"],
                                  viewport={"width": 1100, "height": 800})
    context.set_default_timeout(30_000)
    yield context
    context.close()


@pytest.fixture
def redis_client(redis_server):
    client = redis.Redis.from_url(redis_server.url, decode_responses=True)
    yield client
    client.close()


def copied(answer) -> str:
    """The answer's text as the page holds it (its Copy button), not as markdown renders it."""
    answer.page.evaluate("navigator.clipboard.writeText('')")
    answer.locator('button[aria-label="Copy"]').click()
    return wait_for_clipboard(answer.page, bool)


def owner_of(database_url: str, run_id: str) -> str:
    """The worker that answers the run (leases.py)."""
    engine = sqlalchemy.create_engine(database_url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as connection:
            return connection.execute(sqlalchemy.text("SELECT owner FROM run WHERE id = :id"), {"id": run_id}).scalar()
    finally:
        engine.dispose()


def session_of(pid: int) -> int:
    """The session id of a live process (/proc/<pid>/stat, field 6)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat[stat.rindex(")") + 2:].split()[3])


def test_with_three_workers_an_answer_streams_completes_exactly_and_a_reload_shows_it(workers_app, context):
    page = context.new_page()
    question = "Do three workers answer like one?"
    answer = ask(page, workers_app.url, question)
    wait_state(answer, "streaming")
    wait_state(answer, "complete")
    assert copied(answer) == demo_answer(question)
    shown = text_of(answer)
    assert run_of(workers_app.url, answer)["text"] == demo_answer(question)
    assert f"GET /api/runs/{answer.get_attribute('data-run-id')}/events" in workers_app.front.access_log()

    page.reload()  # a new websocket, on whichever worker: the state comes from Redis, the history from Postgres
    answer = page.locator(ANSWER).last
    wait_state(answer, "complete")
    assert page.locator('[data-testid="user-message"]').all_inner_texts() == [question]
    assert page.locator(ANSWER).count() == 1
    assert text_of(answer) == shown
    assert copied(answer) == demo_answer(question)


def test_stop_in_one_tab_stops_both_and_continue_in_the_other_ends_with_the_exact_text(workers_app, context):
    question = "Stop me on any worker, then go on"
    answer_one, answer_two = stop_in_the_second_of_two_tabs(context, workers_app.url, question)
    run = run_of(workers_app.url, answer_one)
    assert run["state"] == "stopped"
    assert 0 < len(run["text"]) and END_OF_DEMO not in run["text"]

    answer_one.locator('button[aria-label="Continue"]').click()
    wait_state(answer_one, "complete")
    assert copied(answer_one) == demo_answer(question)
    assert run_of(workers_app.url, answer_one)["text"] == demo_answer(question)
    # A tab follows an ended answer again only after its own Continue (resilient_stream.jsx),
    # on one worker as on three: the other tab shows the continued answer once reloaded.
    second = answer_two.page
    second.reload()
    answer_two = second.locator(ANSWER).last
    wait_state(answer_two, "complete")
    assert copied(answer_two) == demo_answer(question)


def test_three_worker_processes_each_with_its_own_engine_and_the_page_state_in_redis(
    workers_app, browser, context, redis_client
):
    # Each worker's ChatService listens on a Redis channel named after its worker id
    # (leases.worker_id: host:pid:random); the app answers once its first worker is up.
    deadline = time.monotonic() + 30
    while len(workers := {channel.removeprefix(WORKER_CHANNEL)
                          for channel in redis_client.pubsub_channels(WORKER_CHANNEL + "*")}) < WORKERS:
        assert time.monotonic() < deadline, f"worker ids: {workers}"
        time.sleep(0.2)
    assert len(workers) == WORKERS, f"worker ids: {workers}"
    pids = {int(worker.split(":")[1]) for worker in workers}
    assert len(pids) == WORKERS, f"worker ids name the same process: {workers}"
    # ... and each names a live process of this app (its session: scripts/run runs in one of its own).
    assert {session_of(pid) for pid in pids} == {workers_app.process.pid}

    page = context.new_page()
    page.goto(workers_app.url)
    token = page.wait_for_function("() => window.sessionStorage.getItem('token')").json_value()  # Reflex's tab token
    deadline = time.monotonic() + 10
    while not redis_client.keys(f"{token}_*"):  # this tab's Reflex state, in Redis
        assert time.monotonic() < deadline, "the page's Reflex state is not in Redis"
        time.sleep(0.2)

    # The worker whose websocket got a tab's Send answers its question (the run's owner): tabs
    # of their own, with a connection each, until two workers answered.
    runs_before = counted_by_every_scrape(workers_app.url)
    owners: set[str] = set()
    for number in range(MAX_TABS):
        tab = browser.new_context()
        try:
            answer = ask(tab.new_page(), workers_app.url, f"Which worker answers tab {number}?")
            owners.add(owner_of(workers_app.database_url, answer.get_attribute("data-run-id")))
        finally:
            tab.close()
        if len(owners) >= 2:
            break
    assert len(owners) >= 2, f"{MAX_TABS} tabs were all answered by {owners}"
    assert owners <= workers
    # Whichever worker a scrape reaches counts every worker's answers (scripts/run shares them).
    asked = number + 1
    scrape_until(workers_app.url, lambda s: s.value("unbroken_runs_total") - runs_before >= asked)
    assert counted_by_every_scrape(workers_app.url) - runs_before == asked


def counted_by_every_scrape(url: str, scrapes: int = 6) -> float:
    """``unbroken_runs_total`` the same in several scrapes, each reaching whichever worker the
    kernel gives its new connection: one worker's own count would differ from another's."""
    counts = {scrape(url).value("unbroken_runs_total") for _ in range(scrapes)}
    assert len(counts) == 1, f"scrapes disagree: {counts}"
    return counts.pop()
