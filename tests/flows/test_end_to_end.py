"""End to end: the `wow` command on the bundled sample, as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from conftest import PUBLISHED_RANGES, SAMPLE_LANDING, org_medians

pytestmark = pytest.mark.gx  # end to end: the gate runs Great Expectations

WOW = [sys.executable, "-m", "wow_metrics.cli"]


def _wow(*args: str, env: dict | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*WOW, *args], capture_output=True, text=True, env=env or os.environ.copy(),
                          cwd=cwd, timeout=600)


@pytest.fixture(scope="module")
def sample_warehouse(tmp_path_factory) -> Path:
    warehouse = tmp_path_factory.mktemp("e2e") / "warehouse"
    done = _wow("run", "--landing", str(SAMPLE_LANDING), "--warehouse", str(warehouse))
    assert done.returncode == 0, done.stderr
    assert "published" in done.stdout
    return warehouse


def test_sample_run_publishes_every_table(sample_warehouse: Path) -> None:
    with duckdb.connect(str(sample_warehouse / "wow.duckdb"), read_only=True) as con:
        tables = {r[0] for r in con.execute("select table_name from information_schema.tables").fetchall()}
        assert {"ehr_time_by_clinician_day", "ehr_time_by_clinician_period", "ingest_manifest",
                "quarantine", "metric_definitions"} <= tables
        days, clinicians, ehr = con.execute(
            "select count(*), count(distinct clinician_id), sum(ehr_minutes) "
            "from ehr_time_by_clinician_day").fetchone()
        assert clinicians == 12 and days > 200 and ehr > 0
        # Both formats were read, and every file's rows reconcile.
        formats = {r[0] for r in con.execute(
            "select distinct format from ingest_manifest where status = 'ingested' "
            "and format is not null").fetchall()}
        assert formats == {"canonical", "epic_access_log"}
        bad = con.execute(
            "select file_path from ingest_manifest where status in ('ingested', 'read') and "
            "rows_read <> rows_loaded + rows_quarantined + rows_duplicate + rows_excluded").fetchall()
        assert bad == []
        dupes, excluded = con.execute(
            "select sum(rows_duplicate), sum(rows_excluded) from ingest_manifest "
            "where file_kind = 'audit_extract'").fetchone()
        assert dupes > 0 and excluded > 0
        # The clinician without a roster row is measured as 'unknown' with NULL per-FTE figures.
        unknown = con.execute(
            "select count(*), count(wow_hours_per_fte_week) from ehr_time_by_clinician_period "
            "where department = 'unknown'").fetchone()
        assert unknown[0] >= 1 and unknown[1] == 0
        # Settings behind every figure are recorded.
        idle = con.execute("select value from metric_definitions where name = "
                           "'idle_threshold_seconds'").fetchone()[0]
        assert float(idle) == 300


def test_sample_looks_like_a_clinic(sample_warehouse: Path) -> None:
    """The sample spans a complete month then a partial latest one, and its organisation medians
    are in the published ranges it was calibrated to (docs/sample.md)."""
    with duckdb.connect(str(sample_warehouse / "wow.duckdb"), read_only=True) as con:
        first, last = con.execute("select min(activity_date), max(activity_date) "
                                  "from ehr_time_by_clinician_day").fetchone()
        periods = [r[0] for r in con.execute("select period_start from "
                                             "efficiency_of_practice_by_period order by 1").fetchall()]
    assert (first.isoformat(), last.isoformat()) == ("2026-02-01", "2026-03-17")
    assert [p.isoformat() for p in periods] == ["2026-02-01", "2026-03-01"]
    medians = org_medians(sample_warehouse)
    for name, (low, high) in PUBLISHED_RANGES.items():
        assert low <= medians[name] <= high, (name, medians[name], (low, high))


def test_second_run_ingests_nothing_and_changes_nothing(sample_warehouse: Path) -> None:
    def snapshot() -> list:
        with duckdb.connect(str(sample_warehouse / "wow.duckdb"), read_only=True) as con:
            return con.execute("select * from ehr_time_by_clinician_period order by all").fetchall()

    before = snapshot()
    done = _wow("run", "--landing", str(SAMPLE_LANDING), "--warehouse", str(sample_warehouse))
    assert done.returncode == 0, done.stderr
    assert " 0 ingested" in done.stdout
    assert snapshot() == before
    assert (sample_warehouse / "wow.previous.duckdb").exists()


def test_demo_runs_from_a_fresh_folder(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "WOW_PSEUDONYM_KEY"}
    done = _wow("demo", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "throwaway" in done.stdout
    assert "WOW8" in done.stdout and "Where to look next" in done.stdout
    assert (tmp_path / "warehouse" / "wow.duckdb").exists()


def test_run_without_key_fails_clearly(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "WOW_PSEUDONYM_KEY"}
    done = _wow("run", "--landing", str(SAMPLE_LANDING), "--warehouse", str(tmp_path / "w"), env=env)
    assert done.returncode == 2
    assert "WOW_PSEUDONYM_KEY" in done.stderr
    assert not (tmp_path / "w" / "wow.duckdb").exists()


def test_missing_landing_and_bad_config_fail_clearly(tmp_path: Path) -> None:
    done = _wow("run", "--landing", str(tmp_path / "nope"), "--warehouse", str(tmp_path / "w"))
    assert done.returncode == 2 and "does not exist" in done.stderr
    (tmp_path / "land").mkdir()
    (tmp_path / "land" / "wow.yaml").write_text("idle_treshold_seconds: 300\n")
    done = _wow("run", "--landing", str(tmp_path / "land"), "--warehouse", str(tmp_path / "w"))
    assert done.returncode == 2 and "idle_treshold_seconds: unknown key" in done.stderr


def test_help_documents_run_and_demo() -> None:
    done = _wow("--help")
    assert done.returncode == 0
    assert "wow run" in done.stdout and "wow demo" in done.stdout
