"""The schema comes from Alembic migrations; databases from earlier releases keep their data.

On SQLite and Postgres alike; only the recognition of a database made before Alembic (which
only ever existed as a SQLite file) is SQLite's alone."""

from __future__ import annotations

import sqlalchemy
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
import pytest
from sqlmodel import SQLModel

from app.engine.accounts import LOCAL
from app.engine.db import MIGRATIONS, migrate, open_database
from app.engine.history import History


def test_a_new_database_matches_the_models_exactly(database_url):
    engine = open_database(database_url)
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), SQLModel.metadata) == []
        head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
        assert connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == head
    engine.dispose()


def _first_release_database(url: str, *, before_alembic: bool) -> None:
    """A database as the first release left it: one conversation in which "Retry" appended a
    second answer to the first question, then a follow-up. ``before_alembic``: its tables were
    made without Alembic (no ``alembic_version``), as SQLite files of that release were."""
    engine = sqlalchemy.create_engine(url)
    migrate(engine, "0001")
    insert = sqlalchemy.text
    with engine.begin() as connection:
        if before_alembic:
            connection.exec_driver_sql("DROP TABLE alembic_version")
        connection.exec_driver_sql(
            "INSERT INTO conversation (id, title, created_at, updated_at) VALUES ('c', 'Old', '2026-01-01', '2026-01-01')"
        )
        rows = [  # message id, position, role, content, run id (whose context is the message named last)
            ("q1", 0, "user", "First question", None, None),
            ("a1", 1, "assistant", "First answer", "r1", "a1"),
            ("a1b", 2, "assistant", "Regenerated answer", "r2", "a1"),
            ("q2", 3, "user", "Follow-up", None, None),
            ("a2", 4, "assistant", "Second answer", "r3", "a2"),
        ]
        for message_id, position, role, content, run_id, context_id in rows:
            connection.execute(insert(
                "INSERT INTO message (id, conversation_id, position, role, content, run_id, created_at) "
                "VALUES (:id, 'c', :position, :role, :content, :run_id, '2026-01-01')"),
                {"id": message_id, "position": position, "role": role, "content": content, "run_id": run_id})
            if run_id:
                connection.execute(insert(
                    "INSERT INTO run (id, conversation_id, message_id, client_request_id, context_message_id, provider,"
                    " model, state, last_seq, detail, attempts, created_at, updated_at) VALUES (:id, 'c', :message_id,"
                    " :id, :context_id, 'demo', 'demo', 'complete', 1, '', '[]', '2026-01-01', '2026-01-01')"),
                    {"id": run_id, "message_id": message_id, "context_id": context_id})
                connection.execute(insert(
                    "INSERT INTO run_event (run_id, seq, kind, data) VALUES (:run_id, 1, 'delta', :data)"),
                    {"run_id": run_id, "data": f'{{"seq": 1, "text": "{content}"}}'})
    engine.dispose()


@pytest.mark.sqlite_only
def test_a_sqlite_file_from_before_alembic_is_upgraded_with_its_history_as_branches(tmp_path):
    url = f"sqlite:///{tmp_path}/old.db"
    _first_release_database(url, before_alembic=True)
    _assert_upgraded_with_history_as_branches(url)


def test_a_first_release_database_is_upgraded_with_its_history_as_branches(database_url):
    _first_release_database(database_url, before_alembic=False)
    _assert_upgraded_with_history_as_branches(database_url)


def _assert_upgraded_with_history_as_branches(url: str) -> None:
    engine = open_database(url)
    history = History(engine)
    shown = history.messages("c", LOCAL.id)
    assert [(m.id, m.version, m.versions) for m in shown] == [
        ("q1", 1, 1), ("a1b", 2, 2), ("q2", 1, 1), ("a2", 1, 1)
    ]
    assert shown[1].previous_version_id == "a1"
    assert [m.content for m in history.chat_context("a2")] == ["First question", "Regenerated answer", "Follow-up"]
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), SQLModel.metadata) == []
        assert connection.exec_driver_sql("SELECT count(*) FROM run_event").scalar() == 3
        # Client request ids got their owner's prefix (0005), on every database's string syntax.
        assert connection.exec_driver_sql("SELECT client_request_id FROM run WHERE id = 'r1'").scalar() == "local/r1"
    engine.dispose()


def test_every_migration_can_be_undone_and_redone_with_data_in_place(database_url):
    _first_release_database(database_url, before_alembic=False)
    engine = open_database(database_url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0001")  # every migration's downgrade, with data in place
    migrate(engine)
    assert [m.id for m in History(engine).messages("c", LOCAL.id)] == ["q1", "a1b", "q2", "a2"]
    engine.dispose()
