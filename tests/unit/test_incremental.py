"""An incremental build touches only what changed and equals a full rebuild, table for table."""

from __future__ import annotations

import csv
import datetime as dt
import shutil
from pathlib import Path

import duckdb
import pytest
import yaml
from conftest import SAMPLE_LANDING

from wow_metrics.pipeline import run

NIGHTS_HELD_BACK = 3


def _tables(warehouse: Path) -> dict[str, list]:
    with duckdb.connect(str(warehouse / "wow.duckdb"), read_only=True) as con:
        return {
            "day": con.execute("select * from ehr_time_by_clinician_day order by all").fetchall(),
            "period": con.execute("select * from ehr_time_by_clinician_period order by all").fetchall(),
            "quarantine": con.execute("select * from quarantine order by all").fetchall(),
            "manifest": con.execute(
                "select file_path, file_kind, format, content_sha256, status, rows_read, rows_loaded,"
                " rows_quarantined, rows_duplicate, rows_excluded from ingest_manifest "
                # History (versions replaced since) exists only where there was a history.
                "where status <> 'superseded' order by all").fetchall(),
        }


def _assert_equals_full_rebuild(landing: Path, warehouse: Path, tmp_path: Path) -> None:
    fresh = tmp_path / f"full-{len(list(tmp_path.iterdir()))}"
    run(landing, fresh, full_refresh=True)
    incremental, full = _tables(warehouse), _tables(fresh)
    for name in full:
        assert incremental[name] == full[name], f"{name} differs from a full rebuild"


def _nightly_files(landing: Path) -> list[Path]:
    return sorted(landing.glob("audit/*/*/*/*"), key=lambda p: p.name.split("_")[-1])


def _nights(held: list[Path]) -> list[str]:
    return sorted({p.name.split("_")[-1] for p in held})


def _night_back(landing: Path, held: list[Path], tmp_path: Path, night: str) -> None:
    """Put one held-back night's extracts back into the landing zone."""
    for path in held:
        if path.name.split("_")[-1] == night:
            target = landing / path.relative_to(tmp_path / "held")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)


@pytest.fixture
def grown(tmp_path: Path) -> tuple[Path, Path, list[Path]]:
    """A copy of the sample with its last nights held back, published once."""
    landing = tmp_path / "landing"
    shutil.copytree(SAMPLE_LANDING, landing)
    held = tmp_path / "held"
    files = _nightly_files(landing)
    nights = sorted({p.name.split("_")[-1] for p in files})[-NIGHTS_HELD_BACK:]
    moved = []
    for path in files:
        if path.name.split("_")[-1] in nights:
            target = held / path.relative_to(landing)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(path, target)
            moved.append(target)
    warehouse = tmp_path / "warehouse"
    first = run(landing, warehouse)
    assert first.build == "no previous publication"
    return landing, warehouse, moved


def test_new_nights_rebuild_only_what_they_touch(grown, tmp_path: Path) -> None:
    landing, warehouse, held = grown
    by_night: dict[str, list[Path]] = {}
    for path in held:
        by_night.setdefault(path.name.split("_")[-1], []).append(path)
    for night in sorted(by_night):
        _night_back(landing, held, tmp_path, night)
        summary = run(landing, warehouse)
        assert summary.build.startswith("incremental"), summary.build
        assert summary.ingest.files_ingested == len(by_night[night])
        days = int(summary.build.split(": ")[1].split(" ")[0])
        # A night's events reach back and forward at most two days, per clinician (12).
        assert 0 < days <= 5 * 12
        # The number of build tasks is chosen from the events in the scope's windows, not the
        # lake's: a night is a small part of it.
        with duckdb.connect(str(warehouse / "wow.duckdb"), read_only=True) as con:
            lake = con.execute("select sum(rows_loaded) from ingest_manifest "
                               "where status <> 'superseded'").fetchone()[0]
        assert summary.partitions_reason.startswith("auto: "), summary.partitions_reason
        in_scope = int(summary.partitions_reason.split()[1].replace(",", ""))
        assert 0 < in_scope < lake / 4, (in_scope, lake)
    _assert_equals_full_rebuild(landing, warehouse, tmp_path)


def test_nothing_new_rebuilds_nothing(grown, tmp_path: Path) -> None:
    landing, warehouse, _ = grown
    before = _tables(warehouse)
    summary = run(landing, warehouse)
    assert summary.build.startswith("incremental: 0 clinician-day")
    assert summary.partitions == 0
    assert _tables(warehouse) == before


def _rewrite_csv(path: Path, change) -> None:
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        fields, rows = reader.fieldnames, list(reader)
    rows = change(rows)
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)


def test_roster_change_rebuilds_that_clinician(grown, tmp_path: Path) -> None:
    landing, warehouse, _ = grown

    def change(rows):
        rows[0]["clinical_fte"] = "0.3"
        rows[1]["department"] = "Renamed Department"
        return rows

    _rewrite_csv(landing / "reference" / "roster.csv", change)
    summary = run(landing, warehouse)
    assert summary.build.startswith("incremental")
    _assert_equals_full_rebuild(landing, warehouse, tmp_path)


def test_schedule_change_rebuilds_its_periods(grown, tmp_path: Path) -> None:
    landing, warehouse, _ = grown
    schedule = sorted((landing / "reference" / "schedule").glob("*.csv"))[-1]

    def change(rows):
        for row in rows[::7]:
            row["status"] = "canceled"
        rows[3]["duration_minutes"] = "95"
        return rows

    _rewrite_csv(schedule, change)
    summary = run(landing, warehouse)
    assert summary.build.startswith("incremental")
    _assert_equals_full_rebuild(landing, warehouse, tmp_path)


def test_holiday_added_rebuilds_its_period(grown, tmp_path: Path) -> None:
    landing, warehouse, _ = grown
    with (landing / "reference" / "holidays.csv").open("a") as fh:
        fh.write("2026-03-04,Snow day\n")
    summary = run(landing, warehouse)
    assert summary.build.startswith("incremental")
    _assert_equals_full_rebuild(landing, warehouse, tmp_path)


def test_corrected_extract_replaces_its_rows(grown, tmp_path: Path) -> None:
    landing, warehouse, _ = grown
    canonical = sorted(landing.glob("audit/canonical/*/*/*.csv"))[2]
    _rewrite_csv(canonical, lambda rows: rows[: len(rows) // 2])
    summary = run(landing, warehouse)
    assert summary.build.startswith("incremental")
    assert summary.ingest.files_ingested == 1
    _assert_equals_full_rebuild(landing, warehouse, tmp_path)


def test_changed_setting_rebuilds_everything(grown, tmp_path: Path) -> None:
    landing, warehouse, _ = grown
    config = yaml.safe_load((landing / "wow.yaml").read_text()) or {}
    (landing / "wow.yaml").write_text(yaml.safe_dump({**config, "idle_threshold_seconds": 240}))
    summary = run(landing, warehouse)
    assert summary.build == "settings changed since the last publication"
    _assert_equals_full_rebuild(landing, warehouse, tmp_path)
    # A speed-only setting changes no figure and forces no rebuild.
    (landing / "wow.yaml").write_text(yaml.safe_dump(
        {**config, "idle_threshold_seconds": 240, "build_partitions": 3}))
    assert run(landing, warehouse).build.startswith("incremental: 0")


def test_backfill_rebuilds_the_range_and_equals_full(grown, tmp_path: Path) -> None:
    landing, warehouse, _ = grown
    with duckdb.connect(str(warehouse / "wow.duckdb"), read_only=True) as con:
        march_days = con.execute("select count(*) from ehr_time_by_clinician_day where "
                                 "activity_date between '2026-03-01' and '2026-03-31'").fetchone()[0]
    summary = run(landing, warehouse, backfill=(dt.date(2026, 3, 1), dt.date(2026, 3, 31)))
    rebuilt = int(summary.build.split(": ")[1].split(" ")[0])
    assert march_days > 100 and rebuilt >= march_days
    _assert_equals_full_rebuild(landing, warehouse, tmp_path)


def _footer_rows(warehouse: Path) -> dict[str, int]:
    events = warehouse / "lake" / "events"
    with duckdb.connect() as con:
        rows = con.execute("select file_name, num_rows from parquet_file_metadata($g)",
                           {"g": str(events / "*" / "*.parquet")}).fetchall()
    return {Path(name).relative_to(events).as_posix(): n for name, n in rows}


def test_a_night_counts_earlier_lake_files_from_the_state_and_new_ones_from_footers(
        grown, tmp_path: Path) -> None:
    from wow_metrics.state import known_lake_file_rows
    from wow_metrics.warehouse import AuditFailure

    landing, warehouse, held = grown
    before = _footer_rows(warehouse)

    def known_rows() -> dict[str, int]:
        return {name: rows for name, (rows, _, _) in known_lake_file_rows(warehouse).items()}

    assert known_rows() == before  # every live file, as its footer says
    _night_back(landing, held, tmp_path, _nights(held)[0])
    summary = run(landing, warehouse)
    assert summary.build.startswith("incremental")
    after = _footer_rows(warehouse)
    assert set(after) > set(before)
    assert known_rows() == after  # the night's files counted and kept

    # An earlier file's count comes from the state (no footer re-read while its size and mtime
    # are unchanged): a wrong one there is what the gate sees. (The state is the warehouse's
    # own; this only shows where counts come from. A rewritten file is read again:
    # test_validation_gate.py.)
    state_file = warehouse / "state" / "lake_file_rows.parquet"
    name = sorted(before)[0]
    with duckdb.connect() as con:
        con.execute(f"copy (select * replace (rows + (file_name = $n)::BIGINT as rows) "
                    f"from read_parquet('{state_file}')) to '{state_file}.new' (format parquet)",
                    {"n": name})
    Path(f"{state_file}.new").replace(state_file)
    _night_back(landing, held, tmp_path, _nights(held)[1])
    with pytest.raises(AuditFailure) as blocked:
        run(landing, warehouse)
    assert "canonical_events.lake_reconciles_with_manifest" in blocked.value.failures


def test_a_lake_file_gone_since_the_last_night_blocks_the_next(grown, tmp_path: Path) -> None:
    from wow_metrics.warehouse import AuditFailure

    landing, warehouse, held = grown
    gone = sorted((warehouse / "lake" / "events").rglob("*.parquet"))[0]
    gone.unlink()
    _night_back(landing, held, tmp_path, _nights(held)[0])
    with pytest.raises(AuditFailure) as blocked:
        run(landing, warehouse)
    assert "canonical_events.lake_reconciles_with_manifest" in blocked.value.failures


def test_an_unreadable_lake_file_count_state_means_every_footer_is_read(tmp_path: Path) -> None:
    from wow_metrics.state import known_lake_file_rows

    (tmp_path / "state").mkdir()
    assert known_lake_file_rows(tmp_path) is None
    (tmp_path / "state" / "lake_file_rows.parquet").write_bytes(b"not parquet")
    assert known_lake_file_rows(tmp_path) is None
