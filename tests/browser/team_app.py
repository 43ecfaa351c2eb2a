"""A second app for browser tests: a team instance (``UNBROKEN_AUTH=password``) from a copy
of the checkout, beside the session's single-person app.

Reflex builds into the project's ``.web`` and bakes the app's port into the built frontend
(the websocket address in ``.web/env.json``), and two builds must not share one ``.web`` at
once. So the team app runs from a copy of the checkout's files (tracked and untracked, not
ignored ones: the same files a commit of the working tree would hold) with its own ``.web``;
the copy links the checkout's ``.venv`` and ``.tools``, and the frontend packages come from
bun's cache. ``TeamApp.build_s`` is the time from the copy to the first healthy answer.

The team app has its own fake upstream, its own database (a SQLite file; a Postgres database
when it runs as three workers) and log, an ``OPENAI_API_KEY``
that is a canary (``sk-CANARY-…``: a test checks it never leaves the server) and
``UNBROKEN_ALLOWED_ORIGINS`` naming the nginx port picked up front (``nginx_port``).
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import shutil
import sqlite3
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg

from tests.fakes.server import free_port
from tests.fakes.upstream import FakeUpstream

if TYPE_CHECKING:
    from tests.browser.conftest import RunningApp

_LINKED = (".venv", ".tools")  # big, shared, and not the app: linked, not copied
CONCURRENT_RUNS = 1


def copy_checkout(source: Path, dest: Path) -> int:
    """Copies the checkout's files as ``git`` sees them (ignored ones left out) into ``dest``
    and links its tools; returns the number of files copied."""
    listing = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                             cwd=source, capture_output=True, check=True).stdout
    copied = 0
    for name in filter(None, listing.decode().split("\0")):
        path = source / name
        if name in _LINKED or path.is_symlink() or not path.is_file():
            continue  # the tools are linked below; a file deleted in the working tree is gone
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
        copied += 1
    for name in _LINKED:
        os.symlink((source / name).resolve(), dest / name)
    return copied


@dataclasses.dataclass
class TeamApp:
    app: RunningApp
    upstream: FakeUpstream
    checkout: Path  # the copy the app runs from (its .web holds the built frontend)
    database_url: str
    canary_key: str
    nginx_port: int  # free when the app started; named in UNBROKEN_ALLOWED_ORIGINS
    build_s: float

    @property
    def url(self) -> str:
        return self.app.url

    @property
    def port(self) -> int:
        return self.app.port

    @property
    def nginx_origin(self) -> str:
        return f"http://127.0.0.1:{self.nginx_port}"

    def built_frontend(self) -> list[Path]:
        return sorted(p for p in (self.checkout / ".web" / "build" / "client").rglob("*") if p.is_file())

    def database_rows(self) -> str:
        """Every row of every table, as text (read-only)."""
        if self.database_url.startswith("sqlite:///"):
            path = self.database_url.removeprefix("sqlite:///")
            with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
                return "\n".join(db.iterdump())
        with psycopg.connect(self.database_url.replace("+psycopg", "", 1), autocommit=True) as db:
            tables = [row[0] for row in db.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")]
            return "\n".join(f"{table}: {row!r}" for table in tables
                             for row in db.execute(f'SELECT * FROM "{table}"'))


def without_app_settings(base: dict[str, str]) -> dict[str, str]:
    """``base`` without provider, Unbroken or Reflex settings: an app started with it has only
    the settings its test gives it."""
    return {k: v for k, v in base.items() if not k.startswith(("OPENAI_", "ANTHROPIC_", "OLLAMA_", "UNBROKEN_",
                                                               "REFLEX_"))}


def team_env(base: dict[str, str], data: Path, upstream: FakeUpstream, model: str, nginx_port: int,
             canary_key: str) -> dict[str, str]:
    """The team app's environment: ``base`` without provider or app settings, then password
    accounts, one answer at a time per user, the fake upstream with the canary key."""
    return {
        **without_app_settings(base),
        "PORT": str(free_port()),
        "DATABASE_URL": f"sqlite:///{data}/unbroken.db",
        "UNBROKEN_AUTH": "password",
        "UNBROKEN_SIGNUP": "invite",
        "UNBROKEN_ALLOWED_ORIGINS": f"http://127.0.0.1:{nginx_port}",
        "UNBROKEN_CONCURRENT_RUNS": str(CONCURRENT_RUNS),
        "UNBROKEN_HEARTBEAT_S": "1",
        "UNBROKEN_SSE_RETRY_MS": "300",
        "UNBROKEN_DEMO": "off",
        "OPENAI_BASE_URL": upstream.base_url,
        "OPENAI_API_KEY": canary_key,
        "OPENAI_MODEL": model,
    }


def canary_key() -> str:
    return "sk-CANARY-" + secrets.token_hex(12)
