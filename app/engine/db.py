"""Opening the database: SQLite (the default) or Postgres, schema migrated at start-up.

The schema is Alembic's (``app/engine/migrations``): every start upgrades the database to
the newest revision, so an existing ``unbroken.db`` keeps its conversations across releases.

SQLite runs in WAL mode with a busy timeout: WAL lets the SSE endpoint replay (read) while the
log writer commits; the busy timeout makes a writer wait for another instead of failing with
"database is locked". Postgres goes through psycopg 3 (``postgresql+psycopg://``; a plain
``postgresql://`` means the same here) with a bounded pool whose connections are checked
before use, so a restarted database server costs a reconnect rather than a failed request.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy
from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import Engine

SQLITE_BUSY_TIMEOUT_MS = 5000
# Connections are held only for one query or commit (from worker threads); a few more than
# the default 5 spare requests the wait, and the total stays far below Postgres's default
# max_connections (100) even with several app processes.
POSTGRES_POOL_SIZE = 10
POSTGRES_MAX_OVERFLOW = 10
POSTGRES_CONNECT_TIMEOUT_S = 10  # an unreachable server fails the start instead of hanging it
MIGRATIONS = Path(__file__).parent / "migrations"
# The schema of releases before Alembic, which created their tables directly.
BASELINE_REVISION = "0001"


MIGRATION_LOCK_KEY = 0x756E62726F6B656E  # "unbroken"


def open_database(url: str) -> Engine:
    """Create the engine and bring the schema up to date. Does I/O: call it at start-up."""
    engine = create_engine(url)
    migrate(engine)
    return engine


def create_engine(url: str) -> Engine:
    """The engine for ``url`` with the options its database needs (no I/O yet, no migration)."""
    url_obj = sqlalchemy.make_url(url)
    backend = url_obj.get_backend_name()
    if backend == "sqlite":
        return _open_sqlite(url_obj)
    if backend == "postgresql":
        if url_obj.drivername == "postgresql":  # SQLAlchemy's default driver would be psycopg2
            url_obj = url_obj.set(drivername="postgresql+psycopg")
        engine = sqlalchemy.create_engine(
            url_obj, pool_pre_ping=True, pool_size=POSTGRES_POOL_SIZE, max_overflow=POSTGRES_MAX_OVERFLOW,
            connect_args={"connect_timeout": POSTGRES_CONNECT_TIMEOUT_S, "application_name": "unbroken"},
        )
        event.listen(engine, "before_cursor_execute", _without_nul, retval=True)
        return engine
    return sqlalchemy.create_engine(url_obj, pool_pre_ping=True)


def _without_nul(_connection, _cursor, statement, parameters, _context, _executemany):
    """Postgres text cannot hold U+0000, which a model's answer or a pasted question may
    contain: one such value would fail the event log's commit for every run, again and again.
    Every string sent is stored with U+FFFD in its place (the log's JSON escapes it, so the
    answer itself stays exact)."""
    return statement, _replace_nul(parameters)


def _replace_nul(value):
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd") if "\x00" in value else value
    if isinstance(value, dict):
        return {key: _replace_nul(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_replace_nul(item) for item in value)
    return value


def migrate(engine: Engine, revision: str = "head") -> None:
    """Upgrade the database to ``revision``. A database from before Alembic (tables but no
    ``alembic_version``) is first marked as the baseline it was created with."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Workers starting at once migrate one after the other (the lock ends with the
            # transaction): the first brings the schema up to date, the others find it so.
            connection.execute(sqlalchemy.text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        config.attributes["connection"] = connection
        tables = sqlalchemy.inspect(connection).get_table_names()
        if "run" in tables and "alembic_version" not in tables:
            command.stamp(config, BASELINE_REVISION)
        command.upgrade(config, revision)


def _open_sqlite(url: sqlalchemy.URL) -> Engine:
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = sqlalchemy.create_engine(
        url, connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
    )

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection, _record) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    return engine
