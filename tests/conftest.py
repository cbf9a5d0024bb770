"""Shared fixtures: isolated Prefect/GX state, a pseudonym key, and a landing-zone builder."""

from __future__ import annotations

import csv
import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings as hypothesis_settings

from wow_metrics import quiet_third_parties

# No test is timed (speed is measured in bench/): Hypothesis' per-example deadline would make
# a property test fail on a loaded machine, not on a wrong answer.
hypothesis_settings.register_profile("wow", deadline=None)
hypothesis_settings.load_profile("wow")

# Isolate and silence the orchestration/validation libraries before anything imports them.
_PREFECT_HOME = tempfile.mkdtemp(prefix="wow-prefect-home-")
if os.environ.get("PYTEST_XDIST_WORKER"):
    # Parallel test workers inherit the controller's environment: each gets its own Prefect
    # home (and so its own temporary API database) instead of sharing the controller's.
    os.environ["PREFECT_HOME"] = _PREFECT_HOME
os.environ.setdefault("PREFECT_HOME", _PREFECT_HOME)
quiet_third_parties()  # no phoning home; a slow temporary Prefect server is waited for
os.environ.setdefault("WOW_PSEUDONYM_KEY", "test-only-pseudonym-key-not-a-secret-5f1c9e7a2b4d8036")
# The gate of a test not about the gate checks every contract rule in DuckDB: GX (3.5 s of a
# 5 s small run) is not imported. Tests marked `gx` (the gate, the sample, the reference
# comparison, the flows, the dashboard) run GX as a nightly run does; test_contracts.py shows
# both engines find the same bad rows for every column check. WOW_GATE_ENGINE=gx make test
# runs every test on GX.
_GATE_ENGINE = os.environ.setdefault("WOW_GATE_ENGINE", "duckdb")

REPO_ROOT = Path(__file__).resolve().parents[1]
SAMPLE_LANDING = REPO_ROOT / "data" / "sample"

# The published ranges the synthetic generator is calibrated to (docs/sample.md): organisation
# medians over eligible clinician-periods of EHR-Time8 (hours), pajama minutes per scheduled day,
# and the inbox and notes shares of EHR time.
PUBLISHED_RANGES = {
    "ehr_time8": (5.0, 6.5),
    "pajama_minutes_per_sched_day": (20.0, 40.0),
    "inbox_share": (0.15, 0.25),
    "notes_share": (0.25, 0.40),
}


def org_medians(warehouse: Path) -> dict[str, float]:
    """The organisation's medians of PUBLISHED_RANGES' figures in a published warehouse, over
    every clinician-period with at least min_scheduled_hours scheduled (as the rollups count)."""
    import duckdb

    with duckdb.connect(str(warehouse / "wow.duckdb"), read_only=True) as con:
        row = con.execute("""
            select median(ehr_time8), median(pajama_minutes_per_sched_day),
                   median(inbox_hours / ehr_hours), median(notes_hours / ehr_hours), count(*)
            from ehr_time_by_clinician_period
            where scheduled_hours >= (select value::DOUBLE from metric_definitions
                                      where kind = 'setting' and name = 'min_scheduled_hours')
            """).fetchone()
    return dict(zip([*PUBLISHED_RANGES, "n"], row, strict=True))

# A site's own extract format, declared in <landing>/formats/acme_audit.yml (no code).
SITE_FORMAT = """\
name: acme_audit
description: A tab-separated export with day-first UTC times.
delimiters: ["\\t"]
columns:
  clinician_id: Operator
  action: Event
  patient_id: PatientRef
event_time:
  - {column: WhenUTC, kind: utc_instant}
timestamp_formats: ["%d.%m.%Y %H:%M:%S"]
"""

EPIC_COLUMNS = [
    "USER_ID",
    "ACCESS_INSTANT",
    "ACCESS_TIME",
    "METRIC_ID",
    "METRIC_NAME",
    "REPORT_NAME",
    "PAT_ID",
    "WORKSTATION_ID",
    "PROCESS_ID",
    "CSN",
]


def write_csv(path: Path, rows: Iterable[Mapping[str, Any]], columns: list[str] | None = None) -> Path:
    """Write dict rows as CSV (None becomes an empty field); columns default to the first row's keys."""
    rows = list(rows)
    if columns is None:
        columns = list(rows[0].keys()) if rows else []
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, extrasaction="raise")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in columns})
    return path


class Published:
    """Read access to a published warehouse for assertions."""

    def __init__(self, warehouse: Path, summary: Any):
        self.warehouse = warehouse
        self.summary = summary
        self.db_path = warehouse / "wow.duckdb"

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        import duckdb

        with duckdb.connect(str(self.db_path), read_only=True) as con:
            cur = con.execute(sql, params or {})
            names = [d[0] for d in cur.description]
            return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]

    def table(self, name: str, order_by: str | None = None) -> list[dict[str, Any]]:
        return self.query(f"select * from {name}" + (f" order by {order_by}" if order_by else ""))

    def day(self, clinician_id: str, activity_date: str) -> dict[str, Any] | None:
        rows = self.query(
            "select * from ehr_time_by_clinician_day "
            "where clinician_id = $c and activity_date = $d::DATE",
            {"c": clinician_id, "d": activity_date},
        )
        assert len(rows) <= 1
        return rows[0] if rows else None

    def days(self, clinician_id: str) -> list[dict[str, Any]]:
        return self.query(
            "select * from ehr_time_by_clinician_day where clinician_id = $c order by activity_date",
            {"c": clinician_id},
        )

    def period(self, clinician_id: str, period_start: str) -> dict[str, Any] | None:
        rows = self.query(
            "select * from ehr_time_by_clinician_period "
            "where clinician_id = $c and period_start = $p::DATE",
            {"c": clinician_id, "p": period_start},
        )
        assert len(rows) <= 1
        return rows[0] if rows else None


class Landing:
    """Build a SPEC-shaped landing zone in a temporary folder, run the pipeline on it."""

    def __init__(self, root: Path, warehouse: Path):
        self.root = root
        self.warehouse = warehouse
        root.mkdir(parents=True, exist_ok=True)

    def config(self, **settings: Any) -> Path:
        import yaml

        path = self.root / "wow.yaml"
        path.write_text(yaml.safe_dump(settings))
        return path

    def canonical(self, rows: Iterable[Mapping[str, Any]], name: str = "events.csv",
                  columns: list[str] | None = None) -> Path:
        rows = list(rows)
        if columns is None:
            columns = ["clinician_id", "event_time", "action"]
            for extra in ("category", "patient_id", "workstation_id"):
                if any(extra in r for r in rows):
                    columns.append(extra)
        return write_csv(self.root / "audit" / "canonical" / name, rows, columns)

    def epic(self, rows: Iterable[Mapping[str, Any]], name: str = "access_log.csv",
             columns: list[str] | None = None) -> Path:
        return write_csv(self.root / "audit" / "epic_access_log" / name, rows, columns or EPIC_COLUMNS)

    def roster(self, rows: Iterable[Mapping[str, Any]]) -> Path:
        cols = ["clinician_id", "department", "specialty", "role", "clinical_fte", "timezone"]
        return write_csv(self.root / "reference" / "roster.csv", rows, cols)

    def schedule(self, rows: Iterable[Mapping[str, Any]], name: str = "schedule.csv") -> Path:
        cols = ["clinician_id", "appointment_id", "start_time", "duration_minutes", "status"]
        return write_csv(self.root / "reference" / "schedule" / name, rows, cols)

    def holidays(self, rows: Iterable[Mapping[str, Any]]) -> Path:
        return write_csv(self.root / "reference" / "holidays.csv", rows, ["date", "name"])

    def category_map(self, rows: Iterable[Mapping[str, Any]]) -> Path:
        cols = ["format", "action", "report_name", "category", "is_prescription"]
        return write_csv(self.root / "reference" / "category_map.csv", rows, cols)

    def run(self) -> Published:
        from wow_metrics.pipeline import run

        summary = run(self.root, self.warehouse)
        return Published(self.warehouse, summary)


@pytest.fixture
def landing(tmp_path: Path) -> Landing:
    """An empty landing zone and warehouse under tmp_path."""
    return Landing(tmp_path / "landing", tmp_path / "warehouse")


@pytest.fixture
def models(tmp_path: Path):
    """Given rows for the sql/ models alone, in memory (tests/sqlmodels.py): the same calls as
    `landing`, and `run()` returns the same reader, with no ingest, gate or publication."""
    from sqlmodels import Models

    return Models(tmp_path / "landing")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    """Tests marked `gx` run the gate with Great Expectations, and so do their subprocesses and
    the fixtures set up for them (this runs before any fixture of the test is set up)."""
    os.environ["WOW_GATE_ENGINE"] = "gx" if item.get_closest_marker("gx") else _GATE_ENGINE
    if os.environ["WOW_GATE_ENGINE"] == "gx":
        # A run in this process then runs GX in place, rather than each run starting a GX
        # process (3 s of import each); tests/unit/test_gx_process.py runs fresh processes.
        import wow_metrics.gx_suites  # noqa: F401
