"""``scripts/backup`` / ``python -m app.backup``: a copy taken while an answer is being written
is a valid database with every finished conversation, and the documented restore (app
stopped, file copied over, stale -wal/-shm removed, app started) brings them all back."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from app.backup import backup
from app.engine.providers.base import Provider, StreamEnd, TextDelta
from app.engine.run_input import RunRequest
from app.engine.service import ChatService

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.sqlite_only  # scripts/backup copies SQLite files; Postgres has pg_dump
QUESTIONS = ("Zebras?", "Okapis?", "Tapirs?")
PASSWORD = "correct horse battery"


class Trickle(Provider):
    """Answers "Answer to <question>" at once, except the question "long": that answer keeps
    writing a word at a time until ``finish()``."""

    name = "trickle"
    label = "Trickle test provider"
    default_model = "trickle-1"

    def __init__(self) -> None:
        self._finish = asyncio.Event()

    def finish(self) -> None:
        self._finish.set()

    async def stream(self, request):
        question = request.messages[-1].content
        if question == "long":
            while not self._finish.is_set():
                yield TextDelta("word ")
                await asyncio.sleep(0.002)
        else:
            yield TextDelta(f"Answer to {question}")
        yield StreamEnd("stop")


async def ask(service: ChatService, actor, question: str) -> str:
    run, _ = await service.start_run(actor, RunRequest(content=question, client_request_id=question))
    return run.id


async def finished(service: ChatService, actor, run_id: str) -> dict:
    async for _ in service.follow(run_id, 0):
        pass
    return await service.run_view(actor, run_id)


def database_file(settings) -> Path:
    return Path(settings.database_url.removeprefix("sqlite:///"))


def stored_text(path: Path, run_id: str) -> str:
    """The run's text as committed to the database file at ``path``."""
    with contextlib.closing(sqlite3.connect(path)) as connection:
        query = "SELECT data FROM run_event WHERE run_id = ? AND kind = 'delta' ORDER BY seq"
        return "".join(json.loads(data)["text"] for (data,) in connection.execute(query, (run_id,)))


async def test_a_backup_taken_while_an_answer_streams_restores_every_finished_conversation(settings, tmp_path):
    live = database_file(settings)
    target = tmp_path / "backups" / "unbroken-copy.db"
    provider = Trickle()
    service = ChatService(settings, provider=provider)
    await service.start()
    try:
        admin = await asyncio.to_thread(service.accounts.sign_up, "ada", PASSWORD)
        answers = {}
        for question in QUESTIONS:
            view = await finished(service, admin, await ask(service, admin, question))
            answers[view["conversation_id"]] = view["text"]
        long_run = await ask(service, admin, "long")
        while not await asyncio.to_thread(stored_text, live, long_run):
            await asyncio.sleep(0.01)

        summary = await asyncio.to_thread(backup, live, target)

        # The live log went on after the copy's snapshot: the copy was taken mid-answer.
        copied = await asyncio.to_thread(stored_text, target, long_run)
        assert copied.startswith("word ")
        while len(await asyncio.to_thread(stored_text, live, long_run)) <= len(copied):
            await asyncio.sleep(0.01)
        provider.finish()
        assert (await finished(service, admin, long_run))["state"] == "complete"
    finally:
        await service.close()

    assert summary.target == target and summary.size_bytes == target.stat().st_size
    assert summary.counts == {"accounts": 1, "conversations": 4, "answers": 4}
    assert summary.schema_revision is not None
    with contextlib.closing(sqlite3.connect(target)) as copy:
        assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert copy.execute("PRAGMA journal_mode").fetchone()[0] == "delete"  # one self-contained file
    assert not Path(f"{target}-wal").exists()

    # Restore as the README says: the app is stopped; copy over, drop stale -wal/-shm, start.
    shutil.copyfile(target, live)
    for stale in (Path(f"{live}-wal"), Path(f"{live}-shm")):
        stale.unlink(missing_ok=True)
    restored = ChatService(dataclasses.replace(settings, auto_continue=False), provider=Trickle())
    await restored.start()
    try:
        assert await asyncio.to_thread(restored.accounts.authenticate, "ada", PASSWORD) == admin
        conversations = await restored.conversations.list(admin)
        assert {c.title for c in conversations} == {*QUESTIONS, "long"}
        for conversation_id, text in answers.items():
            messages = (await restored.conversations.view(admin, conversation_id))["messages"]
            assert [m["content"] for m in messages][1] == text
        # The answer caught mid-stream comes back as an interrupted partial, offered Continue.
        partial = await restored.run_view(admin, long_run)
        assert partial["state"] == "interrupted"
        assert partial["text"] == copied  # exactly what the snapshot held
    finally:
        await restored.close()


def run_backup(*args: str, database_url: str, cwd: Path, command: tuple[str, ...]) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": database_url, "PYTHONPATH": str(ROOT)}
    env.pop("UNBROKEN_HOST", None)
    return subprocess.run([*command, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_a_database_other_than_sqlite_is_refused_pointing_to_its_own_tools(tmp_path):
    result = run_backup(str(tmp_path / "copy.db"), database_url="postgresql://unbroken@db.example/unbroken",
                        cwd=tmp_path, command=(sys.executable, "-m", "app.backup"))
    assert result.returncode == 2
    assert "postgresql" in result.stderr and "pg_dump" in result.stderr and "SQLite files only" in result.stderr
    assert not (tmp_path / "copy.db").exists()


async def test_scripts_backup_writes_a_relative_target_where_it_is_typed_and_never_overwrites(settings, tmp_path):
    service = ChatService(settings)  # the demo provider
    await service.start()
    try:
        admin = await asyncio.to_thread(service.accounts.sign_up, "ada", PASSWORD)
        await finished(service, admin, await ask(service, admin, "Hello"))
    finally:
        await service.close()
    command = (str(ROOT / "scripts" / "backup"),)

    first = await asyncio.to_thread(run_backup, "backups/first.db", database_url=settings.database_url,
                                    cwd=tmp_path, command=command)
    assert first.returncode == 0, first.stderr
    written = tmp_path / "backups" / "first.db"
    assert f"to {written}:" in first.stdout and "integrity ok" in first.stdout
    assert "accounts: 1, conversations: 1, answers: 1" in first.stdout

    again = await asyncio.to_thread(run_backup, "backups/first.db", database_url=settings.database_url,
                                    cwd=tmp_path, command=command)
    assert again.returncode == 2 and "exists" in again.stderr
