"""What a run's steps share and hand each other: its context, build plan, build results and summary."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wow_metrics import warehouse as wh
from wow_metrics.config import MIN_CELL_SIZE_FLOOR, Settings
from wow_metrics.ingest import IngestReport
from wow_metrics.lake import Lake


@dataclass
class RunContext:
    """Everything a run's steps share; picklable so steps can run on remote workers."""

    landing: Path
    warehouse: Path
    settings: Settings
    key: bytes = field(repr=False)
    run_id: str = ""
    full_refresh: bool = False  # rebuild every table from the lake
    reingest: bool = False  # the lake was re-read from the landing zone this run

    @property
    def lake(self) -> Lake:
        return Lake(self.warehouse)

    @property
    def work_dir(self) -> Path:
        return self.warehouse / ".build" / self.run_id

    @property
    def params(self) -> dict[str, object]:
        return build_params(self.settings)


@dataclass
class BuildPlan:
    """What to rebuild: everything, or the clinician-days in `scope_path`; and by which tasks."""

    partitions: list[list[int]]
    full: bool = True
    reason: str = "no previous publication"
    partitions_reason: str = ""  # how the number of build tasks was chosen
    scope_path: str | None = None
    scope_rows: int = 0
    extract_shas: list[str] | None = None  # incremental: the extracts holding events in scope
    # incremental: extracts live at the last publication, whose events its gate already checked
    validated_shas: list[str] = field(default_factory=list)


@dataclass
class PartitionResult:
    """What one build task produced: Parquet outputs and any broken partition invariants."""

    index: int
    outputs: dict[str, str]
    audit_failures: dict[str, list[tuple]]
    seconds: float


@dataclass
class RunSummary:
    """What a run did, for the CLI, the flow and tests."""

    run_id: str
    warehouse: Path
    ingest: IngestReport
    seconds: float = 0.0
    phase_seconds: dict[str, float] = field(default_factory=dict)
    events_on_timeline: int = 0
    clinicians: int = 0
    day_rows: int = 0
    period_rows: int = 0
    rows_quarantined_total: int = 0
    partitions: int = 1
    partitions_reason: str = ""
    build: str = ""
    warnings: list[str] = field(default_factory=list)
    expectations_run: int = 0  # checks the publication passed (GX expectations and DuckDB audits)
    events_validated: int = 0  # lake events checked by this run's gate (new extracts only)
    # The reference files this run read: file_path, status (read | quarantined), rows_read,
    # rows_quarantined (ingest_manifest's rows for them)
    reference_files: list[dict] = field(default_factory=list)
    # The organisation's coverage: its first and last date with an event (None without events)
    coverage: tuple[dt.date, dt.date] | None = None
    gap_dates: list[dt.date] = field(default_factory=list)  # covered dates without an event

    @property
    def reference_rows_quarantined(self) -> int:
        return sum(f["rows_quarantined"] or 0 for f in self.reference_files)

    @property
    def reference_files_quarantined(self) -> list[str]:
        return [f["file_path"] for f in self.reference_files if f["status"] == "quarantined"]


def build_params(settings: Settings) -> dict[str, object]:
    """The $parameters the sql/ models take, from the settings."""
    return {
        "default_timezone": settings.default_timezone,
        "idle_threshold_us": int(round(settings.idle_threshold_seconds * 1_000_000)),
        "workday_start": settings.workday_start,
        "workday_end": settings.workday_end,
        "grace_us": int(round(settings.schedule_window_grace_minutes * 60_000_000)),
        "period": settings.period,
        # Settings made without validation (model_copy) still suppress at the floor.
        "min_cell_size": max(settings.min_cell_size, MIN_CELL_SIZE_FLOOR),
        "min_scheduled_hours": float(settings.min_scheduled_hours),
        "wow_threshold_hours_per_fte_week": float(settings.wow_threshold_hours_per_fte_week),
    }


def connect_run(ctx: RunContext, path: Path | str = ":memory:", **options: Any):
    """A DuckDB connection of this run, under wow.yaml's threads and memory_limit."""
    return wh.connect(path, threads=ctx.settings.threads, memory_limit=ctx.settings.memory_limit,
                      **options)


def live_extracts(lake: Lake) -> list[str]:
    """Every live ingested extract as 'content_sha256:file_path'."""
    return sorted(f"{r['content_sha256']}:{r['file_path']}" for r in lake.load_manifest()
                  if r["status"] == "ingested")
