"""Extract formats declared in YAML (schemas/formats/*.yml, and <landing>/formats/*.yml for a site).

A declaration names which of the file's columns plays each role of a canonical event, how the
event time is written and what kind of time it is, and how the file is delimited and encoded.
One SQL file (sql/ingest/declared_format.sql) parses every declared format; adding a vendor is
a YAML file and action-map rows, not code. See docs/formats.md.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

SHIPPED_FORMATS = Path(__file__).resolve().parents[3] / "schemas" / "formats"
SITE_FORMATS = "formats"  # folder of a landing zone holding a site's own declarations

REQUIRED_ROLES = ("clinician_id", "action")
OPTIONAL_ROLES = ("report_name", "category", "patient_id", "encounter_id", "workstation_id",
                  "metric_id", "process_id")
ROLES = (*REQUIRED_ROLES, *OPTIONAL_ROLES)
ISO8601 = "iso8601"
ENCODINGS = ("utf-8", "latin-1", "utf-16")
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


class FormatError(ValueError):
    """A format declaration is not valid; the message names the file and the problem."""


class TimeColumn(BaseModel):
    """A column holding the event time, and how a time without an offset in it is read."""

    model_config = ConfigDict(extra="forbid")
    column: str = Field(min_length=1)
    # utc_instant: a naive time is UTC. local_wall_clock: a naive time is the wall clock in
    # default_timezone (the earlier instant in the repeated DST hour, flagged; a time in the
    # DST gap is quarantined). An explicit offset (Z, +02:00) always wins.
    kind: Literal["utc_instant", "local_wall_clock"]


class FormatDeclaration(BaseModel):
    """The YAML schema of one format declaration."""

    model_config = ConfigDict(extra="forbid")
    name: str
    label: Literal["built-in", "example layout", "site"] = "site"
    description: str = ""
    delimiters: list[str] = Field(default_factory=lambda: [","], min_length=1)
    quote: str = '"'
    encoding: Literal["utf-8", "latin-1", "utf-16"] = "utf-8"
    columns: dict[str, str]
    event_time: list[TimeColumn] = Field(min_length=1, max_length=2)
    timestamp_formats: list[str] = Field(default_factory=lambda: [ISO8601], min_length=1)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError("must be lowercase letters, digits and _, starting with a letter")
        return value

    @field_validator("delimiters")
    @classmethod
    def _delimiters(cls, value: list[str]) -> list[str]:
        for d in value:
            if len(d) != 1 or d in ('"', "\n", "\r"):
                raise ValueError(f"a delimiter is one character other than a quote or newline, not {d!r}")
        return value

    @field_validator("quote")
    @classmethod
    def _quote(cls, value: str) -> str:
        if len(value) != 1:
            raise ValueError("quote is one character")
        return value

    @field_validator("columns")
    @classmethod
    def _columns(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - set(ROLES))
        if unknown:
            raise ValueError(f"unknown role(s) {', '.join(unknown)}; roles are {', '.join(ROLES)}")
        missing = [r for r in REQUIRED_ROLES if not str(value.get(r) or "").strip()]
        if missing:
            raise ValueError(f"required role(s) {', '.join(missing)} not mapped to a column")
        return {role: str(col).strip() for role, col in value.items() if str(col or "").strip()}

    @field_validator("timestamp_formats")
    @classmethod
    def _patterns(cls, value: list[str]) -> list[str]:
        for p in value:
            if p == ISO8601:
                continue
            if "%" not in p:
                raise ValueError(f"{p!r} is neither 'iso8601' nor a strptime pattern")
            if "%z" in p or "%Z" in p:
                raise ValueError(f"{p!r}: offsets are read by 'iso8601'; patterns are wall clocks")
        return value

    @model_validator(mode="after")
    def _distinct_columns(self) -> FormatDeclaration:
        used = [c.lower() for c in self.columns.values()] + [t.column.lower() for t in self.event_time]
        repeated = sorted({c for c in used if used.count(c) > 1})
        if repeated:
            raise ValueError(f"column(s) {', '.join(repeated)} given more than one role")
        return self


@dataclass(frozen=True)
class ExtractFormat:
    """A validated format declaration (plain data: picklable for remote workers)."""

    name: str
    label: str
    description: str
    delimiters: tuple[str, ...]
    quote: str
    encoding: str
    columns: tuple[tuple[str, str], ...]        # (role, source column)
    event_time: tuple[tuple[str, str], ...]     # (source column, kind), in priority order
    timestamp_formats: tuple[str, ...]
    source: str                                 # where it was declared, for messages
    fingerprint: str                            # digest of the declaration: a change re-reads files

    @property
    def role_columns(self) -> dict[str, str]:
        return dict(self.columns)

    @property
    def required_columns(self) -> list[str]:
        """Source columns a file must have (the time: at least one of its columns)."""
        roles = self.role_columns
        return [roles[r] for r in REQUIRED_ROLES]

    @property
    def time_columns(self) -> list[str]:
        return [c for c, _ in self.event_time]

    def recognised(self, header: list[str]) -> list[str]:
        """The header's cells that are this format's column names (case-insensitive)."""
        known = {c.lower() for c in (*self.role_columns.values(), *self.time_columns)}
        return [h for h in header if h.lower() in known]

    def header_problem(self, header: list[str]) -> str | None:
        """Why a file with this header cannot be read as this format, or None.

        The header's own cells are echoed only where they are this format's column names: a
        file whose header is missing has data (perhaps a patient id) on its first line. A
        column of the format named twice (`action,action`, or `clinician_id` and
        `CLINICIAN_ID`: names match in any case) makes the file ambiguous.
        """
        present = {h.lower() for h in header}
        missing = [c for c in self.required_columns if c.lower() not in present]
        if not any(c.lower() in present for c in self.time_columns):
            missing.append(" or ".join(self.time_columns))
        if not missing:
            return self.repeated_problem(header)
        recognised = self.recognised(header)
        others = len(header) - len(recognised)
        found = (f"recognised column(s): {', '.join(recognised)}" if recognised
                 else "no column of this format recognised (is the header line missing?)")
        if others:
            found += f"; {others} other column(s) not shown"
        return f"missing required column(s) {', '.join(missing)} for format {self.name} ({found})"

    def repeated_problem(self, header: list[str]) -> str | None:
        """Why a header that names a column of this format more than once cannot be read."""
        known = {c.lower() for c in (*self.role_columns.values(), *self.time_columns)}
        seen: dict[str, list[str]] = {}
        for h in header:
            if h.lower() in known:
                seen.setdefault(h.lower(), []).append(h)
        repeated = [", ".join(cells) for cells in seen.values() if len(cells) > 1]
        if not repeated:
            return None
        return (f"column(s) named more than once in the header ({'; '.join(repeated)}; names "
                "match in any case): which one holds the data is ambiguous")

    def split_header(self, line: str) -> tuple[list[str], str]:
        """The header's cell names and the delimiter to read the file with.

        Of the declared delimiters, the first that yields every required column wins; failing
        that, the one recognising most columns (so the message names what is missing).
        """
        best: tuple[int, list[str], str] | None = None
        for delimiter in self.delimiters:
            cells = next(csv.reader(io.StringIO(line), delimiter=delimiter, quotechar=self.quote),
                         [])
            cells = [c.strip().strip(self.quote).strip() for c in cells]
            if self.header_problem(cells) is None:
                return cells, delimiter
            score = len(self.recognised(cells))
            if best is None or score > best[0]:
                best = (score, cells, delimiter)
        assert best is not None
        return best[1], best[2]

    def sql_params(self, header: list[str], default_timezone: str) -> dict[str, object]:
        """The $parameters of sql/ingest/declared_format.sql for this format."""
        # With one time column, the second slot repeats the first (it is never chosen).
        (column_1, kind_1), (column_2, kind_2) = self.event_time[0], self.event_time[-1]
        present = [c for c in self.time_columns if c.lower() in {h.lower() for h in header}]
        return {
            "clinician_column": self.role_columns["clinician_id"],
            "action_column": self.role_columns["action"],
            "time_column_1": column_1,
            "time_column_2": column_2,
            "time_zone_1": "UTC" if kind_1 == "utc_instant" else default_timezone,
            "time_zone_2": "UTC" if kind_2 == "utc_instant" else default_timezone,
            "time_is_local_1": kind_1 == "local_wall_clock",
            "time_is_local_2": kind_2 == "local_wall_clock",
            "time_columns_text": " and ".join(present or self.time_columns),
            "report_name_column": self.role_columns.get("report_name", "report_name"),
            "workstation_column": self.role_columns.get("workstation_id", "workstation_id"),
            "metric_column": self.role_columns.get("metric_id", "metric_id"),
            "process_column": self.role_columns.get("process_id", "process_id"),
            "use_iso8601": ISO8601 in self.timestamp_formats,
            "patterns": [p for p in self.timestamp_formats if p != ISO8601] or ["%Y-%m-%d %H:%M:%S"],
            "use_patterns": any(p != ISO8601 for p in self.timestamp_formats),
        }


def load_declaration(path: Path) -> ExtractFormat:
    """Read and check one YAML declaration; raise FormatError naming the file."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise FormatError(f"{path}: cannot read format declaration: {exc}") from None
    if not isinstance(raw, dict):
        raise FormatError(f"{path}: a format declaration is a YAML mapping")
    try:
        decl = FormatDeclaration.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'declaration'}: {e['msg']}"
                             for e in exc.errors())
        raise FormatError(f"{path}: invalid format declaration: {problems}") from None
    if decl.name != path.stem:
        raise FormatError(f"{path}: name {decl.name!r} must match the file name {path.stem!r}")
    body = decl.model_dump(exclude={"label", "description"})
    fingerprint = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]
    return ExtractFormat(
        name=decl.name, label=decl.label, description=decl.description.strip(),
        delimiters=tuple(decl.delimiters), quote=decl.quote, encoding=decl.encoding,
        columns=tuple(decl.columns.items()),
        event_time=tuple((t.column, t.kind) for t in decl.event_time),
        timestamp_formats=tuple(decl.timestamp_formats), source=str(path),
        fingerprint=fingerprint,
    )


@dataclass(frozen=True)
class Registry:
    """Every format this run can read, and the declarations that could not be loaded."""

    formats: dict[str, ExtractFormat]
    broken: dict[str, str]  # format name -> why its declaration is unusable
    warnings: list[str]     # declarations ignored (a name declared twice)

    def get(self, name: str) -> ExtractFormat | None:
        return self.formats.get(name)

    def __contains__(self, name: str) -> bool:
        return name in self.formats

    def names(self) -> list[str]:
        return sorted(self.formats)


def registry(landing: Path | None = None) -> Registry:
    """The shipped formats, plus a site's own from <landing>/formats/*.yml.

    A site declaration may not reuse a shipped name: it is ignored with a warning (a site
    changes how a built-in format is categorised with action-map rows, not by redeclaring it).
    A broken declaration does not stop the run: files of that format are quarantined with its
    problem.
    """
    formats: dict[str, ExtractFormat] = {}
    broken: dict[str, str] = {}
    warnings: list[str] = []
    folders = [SHIPPED_FORMATS] + ([landing / SITE_FORMATS] if landing is not None else [])
    for folder in folders:
        if not folder.is_dir():
            continue
        for path in sorted([*folder.glob("*.yml"), *folder.glob("*.yaml")]):
            if path.stem in formats or path.stem in broken:
                first = formats[path.stem].source if path.stem in formats else "an earlier file"
                warnings.append(f"{path}: ignored: format {path.stem!r} is already declared by {first}")
                continue
            try:
                formats[path.stem] = load_declaration(path)
            except FormatError as exc:
                broken[path.stem] = str(exc)
    return Registry(formats, broken, warnings)
