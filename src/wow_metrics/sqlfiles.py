"""Find and load the project's SQL files (SQL is code: kept in sql/, loaded by name)."""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

SQL_ROOT = Path(os.environ.get("WOW_SQL_DIR", Path(__file__).resolve().parents[2] / "sql"))


@cache
def read_sql(relative: str) -> str:
    """Return the text of sql/<relative>."""
    path = SQL_ROOT / relative
    if not path.exists():
        raise FileNotFoundError(f"SQL file not found: {path}")
    return path.read_text(encoding="utf-8")


def install_macros(con) -> None:
    """Create the shared macros of sql/macros.sql on a DuckDB connection."""
    con.execute(read_sql("macros.sql"))
