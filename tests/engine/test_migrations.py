"""The schema comes from Alembic migrations; databases from earlier releases keep their data."""

from __future__ import annotations

import sqlalchemy
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlmodel import SQLModel

from app.engine.accounts import LOCAL
from app.engine.db import MIGRATIONS, migrate, open_database
from app.engine.history import History


def test_a_new_database_matches_the_models_exactly(tmp_path):
    engine = open_database(f"sqlite:///{tmp_path}/new.db")
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), SQLModel.metadata) == []
        head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
        assert connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == head


def _first_release_database(url: str) -> None:
    """A database as the first release left it: tables made without Alembic, one conversation
    in which "Retry" appended a second answer to the first question, then a follow-up."""
    engine = sqlalchemy.create_engine(url)
    migrate(engine, "0001")
    with engine.begin() as connection:
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
            connection.exec_driver_sql(
                "INSERT INTO message (id, conversation_id, position, role, content, run_id, created_at) "
                "VALUES (?, 'c', ?, ?, ?, ?, '2026-01-01')", (message_id, position, role, content, run_id))
            if run_id:
                connection.exec_driver_sql(
                    "INSERT INTO run (id, conversation_id, message_id, client_request_id, context_message_id, provider,"
                    " model, state, last_seq, detail, attempts, created_at, updated_at) VALUES (?, 'c', ?, ?, ?, "
                    "'demo', 'demo', 'complete', 1, '', '[]', '2026-01-01', '2026-01-01')",
                    (run_id, message_id, run_id, context_id))
                connection.exec_driver_sql(
                    "INSERT INTO run_event (run_id, seq, kind, data) VALUES (?, 1, 'delta', ?)",
                    (run_id, f'{{"seq": 1, "text": "{content}"}}'))
    engine.dispose()


def test_a_first_release_database_is_upgraded_with_its_history_as_branches(tmp_path):
    url = f"sqlite:///{tmp_path}/old.db"
    _first_release_database(url)
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


def test_the_newest_migration_can_be_undone_and_redone_with_data_in_place(tmp_path):
    url = f"sqlite:///{tmp_path}/old.db"
    _first_release_database(url)
    engine = open_database(url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0001")  # every migration's downgrade, with data in place
    migrate(engine)
    assert [m.id for m in History(engine).messages("c", LOCAL.id)] == ["q1", "a1b", "q2", "a2"]
