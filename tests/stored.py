"""What a test database holds, read behind the app's back, on SQLite and Postgres alike."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy


def rows(database_url: str, query: str) -> list[tuple]:
    """The rows of one SQL query (quote ``"user"``: a reserved word in Postgres)."""
    engine = sqlalchemy.create_engine(database_url)
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.exec_driver_sql(query)]
    finally:
        engine.dispose()


def everything(database_url: str) -> bytes:
    """All that is stored: for SQLite the bytes of the database's files (WAL included, so freed
    pages and uncheckpointed writes count too); for Postgres every row of every table."""
    url = sqlalchemy.make_url(database_url)
    if url.get_backend_name() == "sqlite":
        return b"".join(path.read_bytes() for path in Path(url.database).parent.glob("*"))
    engine = sqlalchemy.create_engine(url)
    try:
        with engine.connect() as connection:
            metadata = sqlalchemy.MetaData()
            metadata.reflect(connection)
            return "\n".join(repr(tuple(row)) for table in metadata.sorted_tables
                             for row in connection.execute(sqlalchemy.select(table))).encode()
    finally:
        engine.dispose()
