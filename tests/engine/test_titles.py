"""Titles: cleaning a model's suggestion, and replacing a title only while it is unchanged."""

from __future__ import annotations

from app.engine.accounts import LOCAL
from app.engine.db import open_database
from app.engine.rows import NewRun, RunParams
from app.engine.store import Store
from app.engine.titles import clean_title

PARAMS = RunParams(provider="demo", model="demo")


def test_a_suggestion_never_replaces_a_title_changed_meanwhile(database_url):
    store = Store(open_database(database_url))
    run, _ = store.create_run(NewRun(user_id=LOCAL.id, content="Original words", client_request_id="c1", conversation_id=None, params=PARAMS))
    assert store.replace_title(run.conversation_id, "Something else", "Suggested") is False
    assert store.first_question(run.conversation_id) == ("Original words", "Original words")
    assert store.replace_title(run.conversation_id, "Original words", "Suggested") is True
    assert store.first_question(run.conversation_id)[0] == "Suggested"
    store.engine.dispose()


def test_titles_are_cleaned_of_quotes_markup_and_a_final_stop():
    assert clean_title('"Zebra Sleep."') == "Zebra Sleep"
    assert clean_title("\n**Title: Night   zebras**\nmore") == "Night zebras"
    assert clean_title("  ") is None
