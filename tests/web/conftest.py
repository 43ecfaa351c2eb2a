"""Fixtures of the API tests."""

from __future__ import annotations

import pytest

from tests.web.team import TEAM_SETTINGS, Team


@pytest.fixture
def team_of(api_against, upstream):
    """``team_of(**settings)`` → a started team instance (tests/web/team.py) on the test's
    ``api_against``: one process, or three workers behind nginx; stopped after the test."""

    def start(**overrides) -> Team:
        return Team(api_against(upstream, **{**TEAM_SETTINGS, **overrides}).url, upstream)

    return start
