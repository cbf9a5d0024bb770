"""Splitting the build into clinician-bucket partitions changes no published figure."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import yaml
from conftest import SAMPLE_LANDING

from wow_metrics.pipeline import run

TABLES = ("ehr_time_by_clinician_day", "ehr_time_by_clinician_period", "quarantine")


def _tables(warehouse: Path) -> dict[str, list]:
    with duckdb.connect(str(warehouse / "wow.duckdb"), read_only=True) as con:
        out = {t: con.execute(f"select * from {t} order by all").fetchall() for t in TABLES}
        out["ingest_manifest"] = con.execute(
            "select file_path, status, rows_read, rows_loaded, rows_quarantined, rows_duplicate, "
            "rows_excluded from ingest_manifest order by all").fetchall()
    return out


def test_partitioned_build_equals_single_build(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    shutil.copytree(SAMPLE_LANDING, landing)
    single = run(landing, tmp_path / "one")
    config = yaml.safe_load((landing / "wow.yaml").read_text()) or {}
    (landing / "wow.yaml").write_text(yaml.safe_dump({**config, "build_partitions": 5}))
    split = run(landing, tmp_path / "five")
    assert single.partitions == 1 and split.partitions == 5
    one, five = _tables(tmp_path / "one"), _tables(tmp_path / "five")
    assert len(one["ehr_time_by_clinician_day"]) > 200
    for table in one:
        assert five[table] == one[table], table
