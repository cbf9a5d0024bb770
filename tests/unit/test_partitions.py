"""Splitting the build into clinician-bucket partitions changes no published figure."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest
import yaml
from conftest import SAMPLE_LANDING
from hypothesis import given
from hypothesis import strategies as st

from wow_metrics import planning
from wow_metrics.config import Settings, memory_limit_bytes
from wow_metrics.pipeline import build_task_count, run

TABLES = ("ehr_time_by_clinician_day", "ehr_time_by_clinician_period", "quarantine")


def _tables(warehouse: Path) -> dict[str, list]:
    with duckdb.connect(str(warehouse / "wow.duckdb"), read_only=True) as con:
        out = {t: con.execute(f"select * from {t} order by all").fetchall() for t in TABLES}
        out["ingest_manifest"] = con.execute(
            "select file_path, status, rows_read, rows_loaded, rows_quarantined, rows_duplicate, "
            "rows_excluded from ingest_manifest order by all").fetchall()
    return out


def test_partitioned_build_equals_single_build(tmp_path: Path, monkeypatch) -> None:
    landing = tmp_path / "landing"
    shutil.copytree(SAMPLE_LANDING, landing)
    single = run(landing, tmp_path / "one")
    events = single.ingest.rows_written
    assert single.partitions == 1 and single.partitions_reason.startswith(f"auto: {events:,} events")
    config = yaml.safe_load((landing / "wow.yaml").read_text()) or {}
    (landing / "wow.yaml").write_text(yaml.safe_dump({**config, "build_partitions": 5}))
    split = run(landing, tmp_path / "five")
    assert split.partitions == 5 and "build_partitions" in split.partitions_reason
    # Unset, the number follows the lake's events and memory_limit: a third of the sample's
    # events per task under 1GB gives three tasks.
    (landing / "wow.yaml").write_text(yaml.safe_dump({**config, "memory_limit": "1GB"}))
    monkeypatch.setattr(planning, "BUILD_EVENTS_PER_GB", -(-events // 3))
    auto = run(landing, tmp_path / "auto")
    assert auto.partitions == 3
    assert auto.partitions_reason == (f"auto: {events:,} events to build, at most "
                                      f"{-(-events // 3):,} per task under memory_limit 1GB")
    one, five, three = (_tables(tmp_path / w) for w in ("one", "five", "auto"))
    assert len(one["ehr_time_by_clinician_day"]) > 200
    for table in one:
        assert five[table] == one[table], table
        assert three[table] == one[table], table


@pytest.mark.parametrize(("events", "memory_limit", "expected"), [
    (122_630_883, "4GB", 16),  # stop 14's 100M landing zone: 16 tasks built it under 4GB
    (12_503_152, "4GB", 2),
    (8_000_000, "4GB", 1),
    (8_000_001, "4GB", 2),
    (8_000_001, "4GiB", 1),  # 4GiB holds 8,589,934 events
    (9_000_000, "4GiB", 2),
    (500_000_000, "4GB", 16),  # never more tasks than buckets
    (0, "4GB", 1),
    (10**9, "80%", 1),  # a limit this does not read as a size: one task, as before
])
def test_build_task_count_from_events_and_memory_limit(events, memory_limit, expected):
    n, why = build_task_count(Settings(memory_limit=memory_limit), events)
    assert n == expected
    assert (memory_limit in why) and (f"{events:,}" in why or "not read" in why)


def test_build_task_count_setting_wins():
    assert build_task_count(Settings(build_partitions=3, memory_limit="1MB"), 10**9)[0] == 3
    assert build_task_count(Settings(build_partitions=16), 0)[0] == 16


def test_build_task_count_without_memory_limit_uses_duckdbs_default():
    limit = memory_limit_bytes(None)
    assert limit is not None and limit > 0
    per_task = int(limit / 1e9 * planning.BUILD_EVENTS_PER_GB)
    assert build_task_count(Settings(), per_task)[0] == 1
    assert build_task_count(Settings(), per_task + 1)[0] == 2


@given(events=st.integers(0, 10**10), gb=st.floats(0.05, 64))
def test_auto_tasks_hold_at_most_their_share(events, gb):
    n, _ = build_task_count(Settings(memory_limit=f"{gb:.3f}GB"), events)
    per_task = max(1, int(memory_limit_bytes(f"{gb:.3f}GB") / 1e9 * planning.BUILD_EVENTS_PER_GB))
    assert 1 <= n <= 16
    # The fewest tasks under the share, unless that would need more tasks than buckets.
    assert n == 16 or n * per_task >= events
    assert n == 1 or (n - 1) * per_task < events


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
        con = real_connect(path, **options)
        caching.append((str(path), con.execute(
            "select current_setting('parquet_metadata_cache')").fetchall()[0][0]))
        return con

    caching: list[tuple[str, bool]] = []

    monkeypatch.setattr(wh, "connect", spy)
    landing = tmp_path / "landing"
    shutil.copytree(SAMPLE_LANDING, landing)
    settings = Settings(default_timezone="America/New_York", threads=1, memory_limit="900MB")
    run(landing, tmp_path / "warehouse", settings=settings)
    assert any(path.endswith("publish.duckdb") for path, _, _ in opened)
    assert len(opened) >= 3  # reference staging, the build partition, the publication
    assert [(p, t, m) for p, t, m in opened if (t, m) != (1, "900MB")] == []
    # The gate reads every lake file once per check: the publication's connection keeps their
    # footers; a build task reads each once and keeps none.
    assert {(p.rsplit("/", 1)[-1], on) for p, on in caching} == {
        (":memory:", False), ("publish.duckdb", True)}


@given(st.lists(st.text(min_size=1, max_size=40), min_size=1, max_size=50))
def test_bucket_expression_is_the_contracts_clinician_hash(ids):
    """The macro wow_clinician_bucket (a bit mask, for speed), which the ingest and the models
    use, puts each clinician where the canonical_events contract says its rows belong:
    md5_number(clinician_id) % 16."""
    from wow_metrics.lake import N_BUCKETS
    from wow_metrics.sqlfiles import install_macros

    with duckdb.connect() as con:
        install_macros(con)
        rows = con.execute(
            f"select clinician_id, cast(md5_number(clinician_id) % {N_BUCKETS} as INTEGER), "
            "wow_clinician_bucket(clinician_id) "
            "from (select unnest($ids) as clinician_id)", {"ids": ids}).fetchall()
    assert all(contract == macro for _, contract, macro in rows), rows
    assert all(0 <= macro < N_BUCKETS for _, _, macro in rows)
