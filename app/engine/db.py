"""Opening the database: SQLite in WAL mode with a busy timeout, schema created at start-up.

WAL lets the SSE endpoint replay (read) while the log writer commits; the busy timeout makes
a writer wait for another instead of failing with "database is locked".
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

from app.engine import models  # noqa: F401  (registers the tables on SQLModel.metadata)

SQLITE_BUSY_TIMEOUT_MS = 5000


def open_database(url: str) -> Engine:
    """Create the engine and the schema. Does I/O: call it at start-up, not at import."""
    url_obj = sqlalchemy.make_url(url)
    if url_obj.get_backend_name() == "sqlite":
        engine = _open_sqlite(url_obj)
    else:
        engine = sqlalchemy.create_engine(url_obj, pool_pre_ping=True)
    SQLModel.metadata.create_all(engine)
    return engine


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
