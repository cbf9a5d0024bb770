"""The publication gate: a corrupted build never reaches the published warehouse."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from conftest import REPO_ROOT, SAMPLE_LANDING

pytestmark = pytest.mark.gx  # end to end: the gate runs Great Expectations


def _wow_run(landing: Path, warehouse: Path, sql_dir: Path | None = None) -> subprocess.CompletedProcess:
    env = os.environ.copy()
    if sql_dir is not None:
        env["WOW_SQL_DIR"] = str(sql_dir)
    return subprocess.run([sys.executable, "-m", "wow_metrics.cli", "run", "--landing", str(landing),
                           "--warehouse", str(warehouse)], capture_output=True, text=True, env=env,
                          timeout=600)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_corrupted_build_is_blocked_and_the_previous_publication_kept(tmp_path: Path) -> None:
    warehouse = tmp_path / "warehouse"
    first = _wow_run(SAMPLE_LANDING, warehouse)
    assert first.returncode == 0, first.stderr
    before = _digest(warehouse / "wow.duckdb")

    # The same SQL with one deliberate bug: every day's inbox time one minute too high.
    broken = tmp_path / "sql"
    shutil.copytree(REPO_ROOT / "sql", broken)
    mart = broken / "marts" / "ehr_time_by_clinician_day.sql"
    text = mart.read_text()
    assert "(inbox_us / 60e6)::DOUBLE as inbox_minutes" in text
    mart.write_text(text.replace("(inbox_us / 60e6)::DOUBLE as inbox_minutes",
                                 "(inbox_us / 60e6 + 1)::DOUBLE as inbox_minutes"))
    done = _wow_run(SAMPLE_LANDING, warehouse, sql_dir=broken)
    assert done.returncode == 1
    assert "previous publication is kept" in done.stderr
    assert "ehr_time_by_clinician_day.categories_sum_to_ehr" in done.stderr  # check and table
    assert "C00" in done.stderr  # failing rows are shown
    assert _digest(warehouse / "wow.duckdb") == before
    # The blocked run's report says why: the failed audit, beside GX's Data Docs of the suite.
    docs = warehouse / "docs"
    assert f"details: {docs / 'index.html'}" in done.stderr
    report = (docs / "index.html").read_text()
    assert "ehr_time_by_clinician_day.categories_sum_to_ehr" in report and "FAIL" in report
    assert "inbox + notes + orders + chart_review + other minutes equal ehr_minutes" in report
    # GX validates the tables in two processes, each writing the Data Docs site of its tables
    # (gx/, gx-2/): the suite's page is in one of them, and the report links that one.
    pages = list(docs.glob("gx*/validations/ehr_time_by_clinician_day/**/*.html"))
    assert len(pages) == 1
    site = pages[0].relative_to(docs).parts[0]
    assert {p.name for p in docs.glob("gx*")} == {"gx", "gx-2"}
    assert (f'<code>ehr_time_by_clinician_day.inbox_minutes.not_null</code></td><td>GX '
            f'<a href="{site}/index.html">') in report

    # Fixed again, the next run publishes.
    again = _wow_run(SAMPLE_LANDING, warehouse)
    assert again.returncode == 0, again.stderr


def test_warnings_publish_and_every_result_is_queryable(tmp_path: Path) -> None:
    warehouse = tmp_path / "warehouse"
    done = _wow_run(SAMPLE_LANDING, warehouse)
    assert done.returncode == 0, done.stderr
    with duckdb.connect(str(warehouse / "wow.duckdb"), read_only=True) as con:
        counts = dict(con.execute(
            "select severity, count(*) from validation_results group by all").fetchall())
        failed = con.execute("select table_name, check_name, severity from validation_results "
                             "where not success order by all").fetchall()
        comment = con.execute(
            "select comment from duckdb_columns() where table_name = 'ehr_time_by_clinician_day' "
            "and column_name = 'wow_minutes'").fetchone()[0]
    assert counts["critical"] > 50 and counts["warning"] >= 1
    with duckdb.connect(str(warehouse / "wow.duckdb"), read_only=True) as con:
        by_expectation = dict(con.execute(
            "select expectation, count(*) from validation_results group by all").fetchall())
        unrostered = con.execute(
            "select observed_value, failing_rows, examples from validation_results "
            "where check_name = 'unrostered_clinician'").fetchone()
    assert by_expectation["duckdb_audit"] > 40  # invariants and the lake's column checks
    assert by_expectation["expect_column_values_to_not_be_null"] > 40
    assert by_expectation["expect_table_columns_to_match_ordered_list"] == 11
    assert unrostered == ("1", 1, "[('C0012', 'no roster row')]")
    assert (warehouse / "docs" / "index.html").is_file()
    assert (warehouse / "docs" / "gx" / "index.html").is_file()
    # The sample's unrostered clinician is a warning: recorded, reported, published.
    assert failed and all(severity == "warning" for _, _, severity in failed)
    assert "warning" in done.stdout
    assert comment and "Unit: minutes" in comment


def test_each_lake_extract_is_checked_once_and_every_count_every_run(tmp_path: Path) -> None:
    from wow_metrics.pipeline import run

    landing = tmp_path / "landing"
    shutil.copytree(SAMPLE_LANDING, landing)
    warehouse = tmp_path / "warehouse"
    first = run(landing, warehouse)
    with duckdb.connect(str(warehouse / "wow.duckdb"), read_only=True) as con:
        loaded = con.execute("select sum(rows_read - rows_quarantined) from ingest_manifest "
                             "where status = 'ingested'").fetchone()[0]
    assert first.events_validated == loaded == 69_968
    assert first.expectations_run > 200

    night = landing / "audit" / "canonical" / "2026" / "03" / "late_delivery.csv"
    night.write_text("clinician_id,event_time,action,category,patient_id,workstation_id\n"
                     "C0001,2026-03-16T21:00:00,inbox_open,inbox,P1,WS1\n"
                     "C0001,2026-03-16T21:02:00,inbox_open,inbox,P1,WS1\n"
                     "C0001,2026-03-16T21:05:00,note_edit,notes,P1,WS1\n")
    second = run(landing, warehouse)
    assert second.build.startswith("incremental")
    assert second.events_validated == 3  # only the new extract's rows
    assert second.expectations_run == first.expectations_run

    third = run(landing, warehouse)  # nothing new: every check still runs, on no new events
    assert third.events_validated == 0 and third.expectations_run == first.expectations_run

    # A lake file that lost a row (disk, hand edit) is caught on the next run by its footer count,
    # though its rows were checked long ago.
    import pyarrow.parquet as pq

    victim = sorted((warehouse / "lake" / "events").rglob("*.parquet"))[0]
    pq.write_table(pq.read_table(victim).slice(1), victim)
    before = _digest(warehouse / "wow.duckdb")
    night.write_text(night.read_text() + "C0001,2026-03-16T21:09:00,note_edit,notes,P1,WS1\n")
    from wow_metrics.warehouse import AuditFailure

    try:
        run(landing, warehouse)
    except AuditFailure as exc:
        assert "canonical_events.lake_reconciles_with_manifest" in str(exc)
    else:
        raise AssertionError("a lake file missing a row was published")
    assert _digest(warehouse / "wow.duckdb") == before
