"""The token estimate used while an answer streams."""

import pytest

from app.engine.tokens import estimate_tokens


@pytest.mark.parametrize(("chars", "tokens"), [(0, 0), (1, 1), (4, 1), (5, 2), (200, 50), (201, 51)])
def test_one_token_per_four_characters_rounded_up(chars, tokens):
    assert estimate_tokens(chars) == tokens
