"""The layers stay visible: the engine imports neither Reflex nor Starlette, and the web
layer knows no Reflex (style.md, convention 2)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parents[1] / "app"


def imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
            if node.module.startswith("app."):
                roots.add(".".join(node.module.split(".")[:2]))
    return roots


@pytest.mark.parametrize(
    "layer, forbidden",
    [
        ("engine", {"reflex", "starlette", "app.web", "app.ui", "app.runtime"}),
        ("web", {"reflex", "app.ui", "app.runtime"}),
    ],
)
def test_layer_imports_stay_within_their_rules(layer, forbidden):
    offenders = {
        str(path.relative_to(APP)): sorted(imported_roots(path) & forbidden)
        for path in (APP / layer).rglob("*.py")
        if imported_roots(path) & forbidden
    }
    assert offenders == {}
