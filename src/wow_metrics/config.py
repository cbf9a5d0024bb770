"""Settings: the landing zone's wow.yaml (SPEC section 2), every key defaulted."""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator


class ConfigError(ValueError):
    """wow.yaml is unreadable or holds an unknown key or a bad value."""


def _parse_clock(value: Any) -> str:
    text = str(value).strip()
    try:
        parsed = dt.datetime.strptime(text, "%H:%M")
    except ValueError as exc:
        raise ValueError(f"expected a clock time HH:MM, got {value!r}") from exc
    return parsed.strftime("%H:%M")


# A size as DuckDB reads memory_limit: decimal (KB, MB, GB, TB) or binary (KiB, ...) units.
_BYTES = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]i?b|b|bytes)?\s*$", re.IGNORECASE)
_UNITS = {"b": 1, "bytes": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def memory_limit_bytes(memory_limit: str | None) -> int | None:
    """memory_limit in bytes; DuckDB's default (80% of RAM) when unset; None for a form DuckDB
    reads but this does not (a percentage, say)."""
    if not memory_limit:
        try:
            return int(0.8 * os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
        except (ValueError, OSError, AttributeError):
            return None
    found = _BYTES.match(memory_limit)
    if not found:
        return None
    return int(float(found.group(1)) * _UNITS[(found.group(2) or "b").lower()])


# The smallest min_cell_size there is (docs/decisions.md, "The smallest cell is 5"): over four or
# fewer clinicians the published p25, median and p75 involve every clinician's value, so they
# give away each clinician's figure to anyone who knows one of them (a member of the cell knows
# their own); from five on the smallest and the largest value never enter them.
MIN_CELL_SIZE_FLOOR = 5


class Settings(BaseModel):
    """Every setting a published figure depends on; recorded in metric_definitions."""

    # Defaults are validated like given values, so a setting has one type however the settings
    # were made (300 and 300.0 would publish different text and fingerprints).
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    default_timezone: str = "UTC"
    idle_threshold_seconds: float = Field(300, gt=0, le=86_400)
    workday_start: str = "07:00"
    workday_end: str = "17:30"
    schedule_window_grace_minutes: float = Field(30, ge=0, le=720)
    period: Literal["month", "week"] = "month"
    min_cell_size: int = MIN_CELL_SIZE_FLOOR
    min_scheduled_hours: float = Field(8, ge=0)
    # Not in SPEC 2: the efficiency-of-practice table's "WOW over threshold" share.
    wow_threshold_hours_per_fte_week: float = Field(5, ge=0, le=168)
    # The publication gate's data-quality checks (not in SPEC 2; they decide whether a run may
    # publish, never a figure). A reference file quarantined whole, a reference file with more
    # than max_reference_reject_share of its rows rejected, or one of the two latest periods
    # with more than max_eligible_drop_share fewer eligible clinicians than the complete period
    # before it blocks publication; `warning` reports them and publishes.
    reference_check_severity: Literal["critical", "warning"] = "critical"
    max_reference_reject_share: float = Field(0.1, ge=0, le=1)
    max_eligible_drop_share: float = Field(0.5, gt=0, le=1)
    # Operational settings (not in SPEC 2; they change how fast a run is, never a figure).
    # None: chosen per run from the events it builds and memory_limit (`pipeline.build_task_count`).
    build_partitions: int | None = Field(None, ge=1, le=16)
    threads: int | None = Field(None, ge=1)
    memory_limit: str | None = None
    # How long a run waits for another run on the same warehouse to finish (0: exit at once).
    lock_wait_seconds: float = Field(0, ge=0, le=86_400)
    # Who may read what a run writes: `owner` (the account that runs it) or `group` (also the
    # warehouse folder's group, for wow.duckdb, exports, dashboard and docs only; the lake and
    # the state stay the owner's). Never anyone else (files.apply_file_mode).
    file_mode: Literal["owner", "group"] = "owner"

    @field_validator("default_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA time zone {value!r}") from exc
        return value

    @field_validator("min_cell_size")
    @classmethod
    def _cell_floor(cls, value: int) -> int:
        if value < MIN_CELL_SIZE_FLOOR:
            raise ValueError(
                f"must be at least {MIN_CELL_SIZE_FLOOR} (got {value}): a rollup over fewer "
                "clinicians would give away each clinician's figure, so suppression cannot be "
                "lowered below that (docs/decisions.md, 'The smallest cell is 5')")
        return value

    @field_validator("workday_start", "workday_end", mode="before")
    @classmethod
    def _clock(cls, value: Any) -> str:
        # YAML 1.1 reads an unquoted 07:00 as the sexagesimal integer 420.
        if isinstance(value, int) and not isinstance(value, bool):
            value = f"{value // 60:02d}:{value % 60:02d}"
        return _parse_clock(value)

    @model_validator(mode="after")
    def _window_order(self) -> Settings:
        if self.workday_start >= self.workday_end:
            raise ValueError(
                f"workday_start ({self.workday_start}) must be before workday_end ({self.workday_end})"
            )
        return self

    @property
    def workday_start_seconds(self) -> int:
        hours, minutes = self.workday_start.split(":")
        return int(hours) * 3600 + int(minutes) * 60

    @property
    def workday_end_seconds(self) -> int:
        hours, minutes = self.workday_end.split(":")
        return int(hours) * 3600 + int(minutes) * 60


def load_settings(landing: Path) -> Settings:
    """Load <landing>/wow.yaml; a missing file means all defaults."""
    path = Path(landing) / "wow.yaml"
    if not path.exists():
        return Settings()
    return load_settings_file(path)


def load_settings_file(path: Path | str) -> Settings:
    """Load settings from a YAML file anywhere (e.g. a flow's config override)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: settings file not found")
    import yaml

    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of settings, got {type(raw).__name__}")
    try:
        return Settings(**raw)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            key = ".".join(str(p) for p in err["loc"]) or "wow.yaml"
            message = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
            problems.append(f"{key}: {message}")
        raise ConfigError(f"{path}: " + "; ".join(problems)) from None
