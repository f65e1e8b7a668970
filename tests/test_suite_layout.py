"""The suite's own layout: test modules never import one another (a helper two modules
need lives in tests/support, a fixture in tests/conftest.py), and every support module
says what it is for."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).parent


def imported_names(tree: ast.Module) -> list[str]:
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            names.append(module)
            names += [f"{module}.{alias.name}" for alias in node.names]
    return names


def test_no_module_of_the_suite_imports_a_test_module() -> None:
    offenders = [
        f"{path.relative_to(TESTS)} imports {name}"
        for path in sorted(TESTS.rglob("*.py"))
        for name in imported_names(ast.parse(path.read_text(), str(path)))
        if any(part.startswith("test_") for part in name.split("."))
    ]

    assert offenders == []


def test_every_support_module_says_what_it_is_for() -> None:
    support = sorted((TESTS / "support").glob("*.py"))

    assert {path.name for path in support} >= {"__init__.py", "factories.py", "smtp.py"}
    for path in support:
        assert ast.get_docstring(ast.parse(path.read_text())), f"{path.name} has no docstring"
