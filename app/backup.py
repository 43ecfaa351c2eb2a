"""``python -m app.backup TARGET`` (``scripts/backup``): a consistent copy of the SQLite database,
safe while the app runs and writes.

The copy is made with SQLite's online backup API in one step, i.e. one read transaction: it
is the database as of the last commit before it started, never half a commit. In WAL mode a
reader does not block writers, so answers keep streaming meanwhile. The copy is switched out
of WAL (one self-contained file, no ``-wal`` beside it) and checked with ``PRAGMA
integrity_check`` before it gets its name; an existing file is never overwritten.

It reads ``DATABASE_URL`` like the app. Only SQLite: another database is backed up with its
own tools. Exit status: 0 written and checked, 1 the copy failed its check (nothing written),
2 refused (not SQLite, no database, target exists, unusable configuration).

Restoring is a manual step on purpose (README, "Backup and restore"): the app must be
stopped first, and nothing reliable tells from the file whether it is (a running app may
hold no connection at a given moment), so no command pretends to know.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import sqlite3
import sys
from pathlib import Path

import sqlalchemy

from app.settings import Settings, SettingsError

BUSY_TIMEOUT_S = 30.0  # a writer's commit in progress: wait for it rather than fail
# Tables counted in the summary, with the word for them; a table an older schema lacks is skipped.
COUNTED = (("user", "accounts"), ("conversation", "conversations"), ("run", "answers"))
BACKUP_TOOLS = {"postgresql": "pg_dump", "mysql": "mysqldump", "mariadb": "mariadb-dump"}


class Refused(Exception):
    """No backup is made; the message says why and what to do instead."""


class CheckFailed(Exception):
    """The copy was made but ``PRAGMA integrity_check`` did not say ok; it was removed."""


@dataclasses.dataclass(frozen=True)
class Summary:
    source: Path
    target: Path
    size_bytes: int
    schema_revision: str | None
    counts: dict[str, int]

    def describe(self) -> str:
        counted = ", ".join(f"{word}: {n}" for word, n in self.counts.items())
        return (f"Backed up {self.source} to {self.target}: {self.size_bytes} bytes, integrity ok, "
                f"schema {self.schema_revision or 'unversioned'}; {counted}.")


def sqlite_path(database_url: str) -> Path:
    """The database file a ``DATABASE_URL`` names (relative paths as the app resolves them:
    against the working directory). Refused for other databases and for in-memory SQLite."""
    url = sqlalchemy.make_url(database_url)
    backend = url.get_backend_name()
    if backend != "sqlite":
        tool = BACKUP_TOOLS.get(backend, "its own backup tool")
        raise Refused(f"DATABASE_URL points to a {backend} database; scripts/backup copies SQLite files only. "
                      f"Back it up with the database's own tools ({tool}).")
    if not url.database or url.database == ":memory:":
        raise Refused("DATABASE_URL names an in-memory SQLite database: there is no file to back up.")
    return Path(url.database)


def backup(source: Path, target: Path) -> Summary:
    """Copy ``source`` to ``target`` consistently and check the copy. Does I/O."""
    if not source.is_file():
        raise Refused(f"there is no database at {source} (DATABASE_URL); has the app been started here?")
    if target.exists():
        raise Refused(f"{target} exists; choose a new name (e.g. with the date) or remove it first.")
    if target.resolve() == source.resolve():
        raise Refused("the target is the database itself.")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    try:
        with _connect(source) as live, _connect(partial) as copy:
            live.backup(copy)  # pages=-1: all in one step, one consistent snapshot
            copy.execute("PRAGMA journal_mode=DELETE")
            _check(copy)
            revision, counts = _contents(copy)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return Summary(source, target, target.stat().st_size, revision, counts)


@contextlib.contextmanager
def _connect(path: Path):
    connection = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S)
    try:
        yield connection
    finally:
        connection.close()


def _check(copy: sqlite3.Connection) -> None:
    problems = [row[0] for row in copy.execute("PRAGMA integrity_check")]
    if problems != ["ok"]:
        raise CheckFailed("the copy failed PRAGMA integrity_check: " + "; ".join(problems[:5]))


def _contents(copy: sqlite3.Connection) -> tuple[str | None, dict[str, int]]:
    tables = {row[0] for row in copy.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    revision = None
    if "alembic_version" in tables:
        revision = copy.execute("SELECT version_num FROM alembic_version").fetchone()[0]
    counts = {word: copy.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
              for table, word in COUNTED if table in tables}
    return revision, counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="scripts/backup",
        description="Copy Unbroken's SQLite database (DATABASE_URL) consistently, while the app runs, "
                    "and check the copy. Restoring: see the README.")
    parser.add_argument("target", type=Path, help="the file to write, e.g. backups/unbroken-2030-01-31.db")
    args = parser.parse_args(argv)
    try:
        summary = backup(sqlite_path(Settings.from_env().database_url), args.target)
    except (Refused, SettingsError) as exc:
        print(f"No backup made: {exc}", file=sys.stderr)
        return 2
    except CheckFailed as exc:
        print(f"No backup made: {exc}", file=sys.stderr)
        return 1
    print(summary.describe())
    return 0


if __name__ == "__main__":
    sys.exit(main())
