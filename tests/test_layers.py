"""Dependencies point one way (DESIGN.md): workspace -> analysis -> assessments -> participants -> trial.
A lower app never imports a higher one, at module level or inside a function."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ORDER = ["trial", "participants", "assessments", "analysis", "workspace"]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("app", ORDER)
def test_no_app_imports_one_above_it(app: str) -> None:
    higher = set(ORDER[ORDER.index(app) + 1 :])
    offenders = {
        str(path.relative_to(ROOT)): sorted(_imports(path) & higher)
        for path in (ROOT / app).rglob("*.py")
        if _imports(path) & higher
    }
    assert offenders == {}, f"{app} imports apps above it: {offenders}"
