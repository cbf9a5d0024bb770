"""What an extract format declares: its columns and the SQL that parses it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class ExtractFormat:
    """Columns a format needs and the sql/ingest file that turns its rows into canonical events."""

    name: str
    required: tuple[str, ...]
    optional: tuple[str, ...]
    normalise_header: Callable[[str], str]
    sql: str
    one_of: tuple[str, ...] = ()

    @property
    def columns(self) -> list[str]:
        return [*self.required, *self.one_of, *self.optional]

    def header_problem(self, header: list[str]) -> str | None:
        """Why this header cannot be read as this format, or None."""
        missing = [c for c in self.required if c not in header]
        if self.one_of and not any(c in header for c in self.one_of):
            missing.append(" or ".join(self.one_of))
        if missing:
            shown = ",".join(header)[:200]
            return (f"missing required column(s) {', '.join(missing)} for format {self.name} "
                    f"(header: {shown})")
        return None


def registry() -> dict[str, ExtractFormat]:
    """Every built-in format by name."""
    from wow_metrics.ingest import canonical, epic_access_log

    return {f.name: f for f in (canonical.FORMAT, epic_access_log.FORMAT)}
