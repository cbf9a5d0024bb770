"""The gate uses Great Expectations through its public API only (issue 24).

src/ may not import from a GX module path with a private segment, name a private attribute
(`._name`) of anything GX gave it, assign to an attribute of a GX class (a monkey-patch), or
subclass a GX class (a metric provider so made is registered for the whole process).
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
SOURCES = sorted(p for p in SRC.rglob("*.py") if "__pycache__" not in p.parts)


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _gx_names(tree: ast.AST) -> set[str]:
    """Local names bound to GX modules or to things imported from them."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "great_expectations":
                    names.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("great_expectations"):
            names.update(alias.asname or alias.name for alias in node.names)
    return names


def _root(node: ast.AST) -> str | None:
    while isinstance(node, ast.Attribute | ast.Call | ast.Subscript):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def gx_violations(source: str, filename: str = "<src>") -> list[str]:
    """What in `source` reaches past GX's public API: private imports, private attributes of
    GX objects, and assignments to attributes of GX classes or modules."""
    tree = ast.parse(source, filename=filename)
    imported = _gx_names(tree)  # GX modules and classes: never assigned to
    gx = set(imported)
    # Names bound from a GX expression (`context = gx.get_context()`), once: enough for src/.
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and _root(node.value) in gx:
            gx.update(t.id for t in node.targets if isinstance(t, ast.Name))
    found: list[str] = []
    for node in ast.walk(tree):
        where = f"{filename}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("great_expectations"):
            parts = node.module.split(".") + [a.name for a in node.names]
            found += [f"{where}: imports private {node.module}.{p}" for p in parts if _private(p)]
        elif isinstance(node, ast.Import):
            found += [f"{where}: imports private {a.name}" for a in node.names
                      if a.name.startswith("great_expectations")
                      and any(_private(p) for p in a.name.split("."))]
        elif isinstance(node, ast.Attribute) and _private(node.attr) and _root(node) in gx:
            found.append(f"{where}: private GX attribute .{node.attr}")
        elif isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            found += [f"{where}: assigns to GX attribute .{t.attr}" for t in targets
                      if isinstance(t, ast.Attribute) and _root(t) in imported]
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
              and node.func.id == "setattr" and node.args and _root(node.args[0]) in imported):
            found.append(f"{where}: setattr on a GX object")
        elif isinstance(node, ast.ClassDef) and any(_root(b) in gx for b in node.bases):
            # GX's metric providers register themselves for the whole process when subclassed.
            found.append(f"{where}: subclasses GX class {ast.unparse(node.bases[0])}")
    return found


def test_src_uses_only_gx_public_api():
    found = [v for path in SOURCES
             for v in gx_violations(path.read_text(encoding="utf-8"), str(path.relative_to(SRC)))]
    assert found == []


def test_the_check_sees_each_kind_of_reach_into_gx():
    patched = """
import great_expectations as gx
from great_expectations.expectations.expectation import Expectation
from great_expectations.expectations.metrics.query_metrics.query_table import (
    unexpected_rows_query_table as _table,
)
from great_expectations.core._docs_decorators import public_api
import great_expectations._internal
Expectation.configuration = property(lambda self: None)
setattr(Expectation, "configuration", None)
context = gx.get_context(mode="ephemeral")
context._usage_statistics_handler = None
query = _table.UnexpectedRowsQueryTable._get_query_from_metric_value_kwargs({})
class Mine(_table.UnexpectedRowsQueryTable):
    pass
"""
    found = "\n".join(gx_violations(patched))
    for what in ("imports private great_expectations.core._docs_decorators",
                 "imports private great_expectations._internal",
                 "assigns to GX attribute .configuration", "setattr on a GX object",
                 "private GX attribute ._usage_statistics_handler",
                 "private GX attribute ._get_query_from_metric_value_kwargs",
                 "subclasses GX class _table.UnexpectedRowsQueryTable"):
        assert what in found, what
    public = """
import great_expectations as gx
import great_expectations.expectations as gxe
context = gx.get_context(mode="ephemeral")
suite = context.suites.add(gx.ExpectationSuite(name="t"))
suite.expectations.append(gxe.ExpectColumnValuesToNotBeNull(column="x"))
class _Mine:
    _cache = {}
_Mine._cache = {}
"""
    assert gx_violations(public) == []
