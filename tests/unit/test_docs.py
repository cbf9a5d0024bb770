"""The contract is inside the repository (issue 24): every "SPEC n" cited anywhere resolves to a
section of docs/spec.md, and nothing points at a file outside the checkout."""

from __future__ import annotations

import re
from pathlib import Path

from conftest import REPO_ROOT

CITED = re.compile(r"SPEC (\d+(?:\.\d+)?)")
SECTION = re.compile(r"^#{2,3} (\d+(?:\.\d+)?)\. |^#{2,3} (\d+\.\d+) ", re.M)
SOURCES = ("src", "sql", "schemas", "docs", "tests", "flows", "bench", "scripts")


def _texts() -> dict[Path, str]:
    files = [REPO_ROOT / "README.md", *(p for d in SOURCES for p in (REPO_ROOT / d).rglob("*")
                                        if p.suffix in (".py", ".sql", ".yml", ".md", ".sh"))]
    return {p: p.read_text(encoding="utf-8") for p in files if p.is_file()}


def test_every_spec_citation_resolves_to_a_section_of_docs_spec():
    spec = (REPO_ROOT / "docs" / "spec.md").read_text(encoding="utf-8")
    sections = {a or b for a, b in SECTION.findall(spec)}
    assert {"1", "1.3", "4", "6", "9"} <= sections
    cited = {(path.relative_to(REPO_ROOT).as_posix(), n)
             for path, text in _texts().items() for n in CITED.findall(text)}
    assert len(cited) > 50
    assert sorted(c for c in cited if c[1] not in sections) == []


def test_nothing_points_outside_the_repository():
    outside = sorted(path.relative_to(REPO_ROOT).as_posix() for path, text in _texts().items()
                     if "../shared/" in text and path.name != "test_docs.py")
    assert outside == []
