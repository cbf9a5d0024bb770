"""The compact lake (issue 23): its layout, and a lake of the older layout migrated in place."""

from __future__ import annotations

import logging
import shutil

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_ingest import TEST_KEY, epic_row, ev

from wow_metrics.lake import EVENT_COLUMNS, LAYOUT, Lake, LakeLayoutError
from wow_metrics.pipeline import run
from wow_metrics.pseudonym import patient_key, pseudonymize

DAY_ORDER = "clinician_id, activity_date"
# The layout 1 events file (before issue 23): 64-hex keys, metric, process and encounter ids.
LAYOUT_1 = """
    select source_file, source_line, format, clinician_id, event_at, action, report_name,
           category_raw,
           printf('%016x', patient_key) || substr(sha256(printf('%016x', patient_key)), 17)
               as patient_key,
           workstation_id, null::VARCHAR as metric_id, null::VARCHAR as process_id,
           sha256(source_file || source_line) as encounter_key, is_time_ambiguous, bucket
    from read_parquet($f, hive_partitioning = false)"""


def lake_rows(lake: Lake) -> list[tuple]:
    files = sorted(str(p) for p in (lake.root / "events").glob("bucket=*/*.parquet"))
    with duckdb.connect() as con:
        return con.execute("select * from read_parquet($f, hive_partitioning = false) "
                           "order by source_file, source_line", {"f": files}).fetchall()


@pytest.fixture
def published(landing):
    """A landing zone with patients, a duplicate and an Epic extract, run once."""
    landing.canonical([
        ev("c1", "2026-03-02T14:00:00Z", patient_id="ZPAT-1", workstation_id="WS1"),
        ev("c1", "2026-03-02T14:00:00Z", patient_id="ZPAT-1", workstation_id="WS1"),  # duplicate
        ev("c1", "2026-03-02T14:00:00Z", patient_id="ZPAT-2", workstation_id="WS1"),  # not one
        ev("c1", "2026-03-02T14:02:30.123456Z", patient_id="ZPAT-2"),
        ev("c1", "2026-03-02T14:04:00Z"),
        ev("c2", "2026-03-08T06:59:59.999999Z", patient_id="ZPAT-3"),
        ev("c2", "2026-03-08T07:00:01Z", patient_id="ZPAT-3"),
    ])
    landing.epic([
        epic_row("u1", "2026-03-02 14:00:00", PAT_ID="ZPAT-4", CSN="991", METRIC_ID="17001"),
        epic_row("u1", "2026-03-02 14:03:00", PAT_ID="ZPAT-4", CSN="991"),
    ])
    return landing, landing.run()


def test_the_lake_is_compact_in_build_order_with_64_bit_patient_keys(published):
    landing, pub = published
    lake = Lake(landing.warehouse)
    assert lake.layout() == LAYOUT and lake.layout_path.read_text() == f"{LAYOUT}\n"
    files = sorted((lake.root / "events").glob("bucket=*/*.parquet"))
    schema = pq.read_schema(files[0])
    assert schema.names == [name for name, _ in EVENT_COLUMNS]
    assert schema.field("patient_key").type == pa.uint64()
    assert schema.field("event_at").type == pa.timestamp("us", tz="UTC")  # integer microseconds
    rows = {(r[0], r[1]): r for r in lake_rows(lake)}
    assert rows[("audit/canonical/events.csv", 2)][8] == patient_key(TEST_KEY, "ZPAT-1")
    assert rows[("audit/canonical/events.csv", 6)][8] is None
    with duckdb.connect() as con:
        for path in files:  # each file in build order
            order = con.execute("select source_line from read_parquet($f) ", {"f": str(path)})
            got = [r[0] for r in order.fetchall()]
            want = [r[0] for r in con.execute(
                "select source_line from read_parquet($f) order by clinician_id, event_at, "
                "source_line", {"f": str(path)}).fetchall()]
            assert got == want
    day = pub.day("c1", "2026-03-02")
    assert day is not None


def test_a_layout_1_lake_is_migrated_in_place_without_its_extracts(published, caplog):
    landing, pub = published
    lake = Lake(landing.warehouse)
    days = pub.table("ehr_time_by_clinician_day", order_by=DAY_ORDER)
    rows = lake_rows(lake)
    # Turn the lake back into layout 1, as a warehouse of an earlier version holds it.
    with duckdb.connect() as con:
        for path in sorted((lake.root / "events").glob("bucket=*/*.parquet")):
            old = path.with_name("old.tmp")
            con.execute(f"copy ({LAYOUT_1}) to $o (format parquet, compression zstd)",
                        {"f": str(path), "o": str(old)})
            old.replace(path)
    lake.layout_path.unlink()
    assert lake.layout() == 1
    key = pq.read_table(sorted((lake.root / "events").glob("bucket=*/*.parquet"))[0]).column(
        "patient_key").to_pylist()
    assert all(k is None or len(k) == 64 for k in key)
    # Nothing reads it as the new layout.
    with pytest.raises(LakeLayoutError, match="layout 1"):
        lake.live_event_files(lake.load_manifest())
    # The extracts are gone from the landing zone: the lake is the system of record.
    shutil.rmtree(landing.root / "audit")
    (landing.root / "audit").mkdir()
    with caplog.at_level(logging.WARNING, logger="wow_metrics.ingest"):
        refreshed = run(landing.root, landing.warehouse, full_refresh=True)
    assert refreshed.ingest.rows_read == 0  # no extract read again
    assert any("layout 1" in r.getMessage() and "rewritten in place" in r.getMessage()
               for r in caplog.records)
    assert lake.layout() == LAYOUT
    assert lake_rows(lake) == rows  # row for row what a fresh ingest writes
    assert pub.table("ehr_time_by_clinician_day", order_by=DAY_ORDER) == days
    # The old hex keys were the same HMAC: the new key is their first 64 bits.
    assert patient_key(TEST_KEY, "ZPAT-4") == int(pseudonymize(TEST_KEY, "ZPAT-4")[:16], 16)


def test_a_migration_killed_part_way_is_finished_by_the_next_run(published):
    landing, _ = published
    lake = Lake(landing.warehouse)
    rows = lake_rows(lake)
    files = sorted((lake.root / "events").glob("bucket=*/*.parquet"))
    with duckdb.connect() as con:  # only the first file turned back: the others were migrated
        old = files[0].with_name("old.tmp")
        con.execute(f"copy ({LAYOUT_1}) to $o (format parquet)", {"f": str(files[0]), "o": str(old)})
        old.replace(files[0])
    (files[0].parent / f".{files[0].name}.tmp-1").write_bytes(b"half a file")
    lake.layout_path.unlink()
    with duckdb.connect() as con:
        assert [p.name for p in lake.migrate_events(lake.load_manifest(), con)] == [files[0].name]
    assert lake.layout() == LAYOUT and lake_rows(lake) == rows
    assert not list(files[0].parent.glob(".*"))


def test_an_events_file_of_no_known_layout_stops_the_migration(published):
    landing, _ = published
    lake = Lake(landing.warehouse)
    path = sorted((lake.root / "events").glob("bucket=*/*.parquet"))[0]
    pq.write_table(pa.table({"source_file": ["x"], "patient_key": [1.5]}), path)
    lake.layout_path.unlink()
    with duckdb.connect() as con, pytest.raises(LakeLayoutError, match="not an events file of any known lake layout"):
        lake.migrate_events(lake.load_manifest(), con)
    assert lake.layout() == 1
