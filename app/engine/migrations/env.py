"""Alembic environment for Unbroken's schema.

At start-up ``app.engine.db.migrate`` hands a connection in ``config.attributes``; from the
command line (``alembic upgrade head``, ``alembic revision --autogenerate``) the URL comes
from ``DATABASE_URL`` like the app's own.
"""

from __future__ import annotations

import sqlalchemy
from alembic import context
from sqlmodel import SQLModel

from app.engine import models  # noqa: F401  (registers the tables on SQLModel.metadata)
from app.engine.db import create_engine
from app.settings import Settings

target_metadata = SQLModel.metadata


def _run(connection: sqlalchemy.Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    engine = create_engine(Settings.from_env().database_url)
    with engine.begin() as connection:
        _run(connection)
    engine.dispose()
