"""DATABASE_URL: which driver and options each kind of database gets (no server needed)."""

from __future__ import annotations

import pytest

from app.engine.db import POSTGRES_POOL_SIZE, create_engine
from tests.fakes.postgres import PostgresCluster, PostgresUnavailable


@pytest.mark.parametrize("url", ["postgresql://unbroken@db.example/unbroken",
                                 "postgresql+psycopg://unbroken@db.example/unbroken"])
def test_a_postgres_url_goes_through_psycopg_3_with_a_checked_pool(url):
    engine = create_engine(url)
    assert engine.dialect.driver == "psycopg"
    assert engine.pool.size() == POSTGRES_POOL_SIZE
    assert engine.pool._pre_ping


def test_a_postgres_that_cannot_start_is_an_error_not_a_skip(monkeypatch, tmp_path):
    monkeypatch.setenv("UNBROKEN_PG_BIN", str(tmp_path / "no-postgres-here"))
    with pytest.raises(PostgresUnavailable):
        with PostgresCluster():
            pass
