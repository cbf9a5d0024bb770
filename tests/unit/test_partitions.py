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


def test_every_connection_of_a_run_is_under_the_settings_limits(tmp_path, monkeypatch):
    # The gate and the publication read the whole lake at a full build: a connection opened
    # without memory_limit took DuckDB's default (80% of RAM) there. Ingest connections are
    # covered by tests/unit/test_ingest.py (they split the limit between workers).
    import wow_metrics.warehouse as wh
    from wow_metrics.config import Settings

    opened = []
    real_connect = wh.connect

    def spy(path, **options):
        opened.append((str(path), options.get("threads"), options.get("memory_limit")))
        return real_connect(path, **options)

    monkeypatch.setattr(wh, "connect", spy)
    landing = tmp_path / "landing"
    shutil.copytree(SAMPLE_LANDING, landing)
    settings = Settings(default_timezone="America/New_York", threads=1, memory_limit="900MB")
    run(landing, tmp_path / "warehouse", settings=settings)
    assert any(path.endswith("publish.duckdb") for path, _, _ in opened)
    assert len(opened) >= 3  # reference staging, the build partition, the publication
    assert [(p, t, m) for p, t, m in opened if (t, m) != (1, "900MB")] == []
