"""Tests that cannot fail are defects (issue 24): the suite itself is checked for the kinds found.

- a test with no assertion of its own or in a helper it calls (one that only prints);
- a skip inside a test body (a silent way out; environment skips are `skipif` marks with a
  reason, visible in the report);
- a value assigned to itself, also under a condition that makes it so (`if x == v: x = v`).
"""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
SOURCES = sorted(p for p in TESTS.rglob("*.py") if "__pycache__" not in p.parts)


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _asserts(node: ast.AST) -> bool:
    for sub in ast.walk(node):
        if isinstance(sub, ast.Assert):
            return True
        if isinstance(sub, ast.Attribute) and sub.attr in {"raises", "fail", "warns"}:
            return True
    return False


def _called_names(node: ast.AST) -> set[str]:
    names = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Call):
            func = sub.func
            names.add(func.id if isinstance(func, ast.Name) else
                      func.attr if isinstance(func, ast.Attribute) else "")
    return names


def _helpers_that_assert() -> set[str]:
    """Every function in tests/ (conftest and helpers included) that asserts, to a fixed point."""
    functions: dict[str, list[ast.AST]] = {}
    for path in SOURCES:
        for node in ast.walk(_tree(path)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                functions.setdefault(node.name, []).append(node)
    asserting = {n for n, defs in functions.items() if any(_asserts(d) for d in defs)}
    while True:
        more = {n for n, defs in functions.items() if n not in asserting
                and any(_called_names(d) & asserting for d in defs)}
        if not more:
            return asserting
        asserting |= more


def test_every_test_can_fail():
    asserting = _helpers_that_assert()
    silent = []
    for path in SOURCES:
        for node in _tree(path).body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test"):
                if not _asserts(node) and not (_called_names(node) & asserting):
                    silent.append(f"{path.relative_to(TESTS)}:{node.lineno} {node.name}")
    assert silent == []


def test_no_test_skips_itself_from_inside():
    found = []
    for path in SOURCES:
        for node in ast.walk(_tree(path)):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "skip" and isinstance(node.func.value, ast.Name)
                    and node.func.value.id == "pytest"):
                found.append(f"{path.relative_to(TESTS)}:{node.lineno}")
    assert found == []


def _self_assignments(tree: ast.Module) -> list[int]:
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            if ast.unparse(node.targets[0]) == ast.unparse(node.value):
                lines.append(node.lineno)
        if isinstance(node, ast.If) and isinstance(node.test, ast.BoolOp | ast.Compare):
            tests = node.test.values if isinstance(node.test, ast.BoolOp) else [node.test]
            equal = {(ast.unparse(t.left), ast.unparse(t.comparators[0])) for t in tests
                     if isinstance(t, ast.Compare) and len(t.ops) == 1
                     and isinstance(t.ops[0], ast.Eq)}
            for stmt in node.body:
                if (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1
                        and (ast.unparse(stmt.targets[0]), ast.unparse(stmt.value)) in equal):
                    lines.append(stmt.lineno)
    return lines


def test_no_value_is_assigned_to_itself():
    found = [f"{p.relative_to(TESTS)}:{n}" for p in SOURCES for n in _self_assignments(_tree(p))]
    assert found == []


def test_the_checks_catch_what_they_look_for():
    """Each rule above finds its kind in a few planted lines."""
    planted = ast.parse("def test_a():\n    print(1)\n\nif x == 'u':\n    x = 'u'\ny = y\n")
    assert _self_assignments(planted) == [5, 6]
    test_a = planted.body[0]
    assert not _asserts(test_a) and _called_names(test_a) == {"print"}
    assert _asserts(ast.parse("def f():\n    with pytest.raises(E):\n        g()\n"))
