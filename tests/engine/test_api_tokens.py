"""API tokens: a token signs its user in until revoked, and its last use is kept to the minute
(``TOKEN_USE_RESOLUTION``) — a script's requests are reads, not a write each."""

from __future__ import annotations

import pytest
from sqlalchemy import event, update

from app.engine.accounts import TOKEN_USE_RESOLUTION, Accounts
from app.engine.db import open_database
from app.engine.models import ApiToken


@pytest.fixture
def accounts(database_url):
    engine = open_database(database_url)
    yield Accounts(engine, default_signup="open", session_days=1)
    engine.dispose()


def writes_to_tokens(accounts: Accounts) -> list[str]:
    """The UPDATEs of the token table from now on, as the database receives them."""
    seen: list[str] = []

    def record(_conn, _cursor, statement, *_args) -> None:
        if statement.lstrip().upper().startswith("UPDATE API_TOKEN"):
            seen.append(statement)

    event.listen(accounts.engine, "before_cursor_execute", record)
    return seen


def test_a_token_is_written_as_used_at_most_once_a_minute(accounts):
    alice = accounts.sign_up("alice", "correct horse battery")
    row, token = accounts.create_token(alice, "script")
    writes = writes_to_tokens(accounts)

    assert [accounts.token_user(token) for _ in range(20)] == [alice] * 20
    assert len(writes) == 1  # the first use; the next 19 only read
    first_use = accounts.tokens(alice)[0].last_used_at
    assert first_use is not None

    with accounts.engine.begin() as connection:  # that use is now older than the resolution
        connection.execute(update(ApiToken).where(ApiToken.id == row.id)
                           .values(last_used_at=first_use - 2 * TOKEN_USE_RESOLUTION))
    writes.clear()
    assert accounts.token_user(token) == alice
    assert len(writes) == 1
    assert accounts.tokens(alice)[0].last_used_at >= first_use


def test_a_made_up_or_revoked_token_or_a_disabled_user_signs_nobody_in(accounts):
    alice = accounts.sign_up("alice", "correct horse battery")
    bob = accounts.sign_up("bob", "correct horse battery")
    alice_row, alice_token = accounts.create_token(alice, "script")
    _bob_row, bob_token = accounts.create_token(bob, "script")
    assert accounts.token_user("ubk_made-up") is None
    assert accounts.revoke_token(alice, alice_row.id)
    assert accounts.token_user(alice_token) is None
    assert accounts.token_user(bob_token) == bob
    accounts.update_user(bob.id, disabled=True)
    assert accounts.token_user(bob_token) is None
