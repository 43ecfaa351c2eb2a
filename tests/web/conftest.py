"""Fixtures of the API tests."""

from __future__ import annotations

import pytest

from tests.web.team import start_team


@pytest.fixture
def team_of(settings, upstream):
    """``team_of(**settings)`` → a started team instance (tests/web/team.py); stopped after the test."""
    servers = []

    def start(**overrides):
        team, server = start_team(settings, upstream, **overrides)
        servers.append(server)
        return team

    yield start
    for server in servers:
        server.__exit__(None, None, None)
