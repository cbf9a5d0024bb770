"""bench/floor.py: the floors the scale harness prints read every extract, and only extracts,
and sort the lake a run wrote (figures are read, not asserted; what they count is)."""

from __future__ import annotations

import gzip
import importlib.util

from conftest import EPIC_COLUMNS, REPO_ROOT, write_csv


def _floor_module():
    spec = importlib.util.spec_from_file_location("floor", REPO_ROOT / "bench" / "floor.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _epic(user: str, instant: str) -> dict:
    return {"USER_ID": user, "ACCESS_INSTANT": instant, "METRIC_NAME": "In Basket message viewed",
            "PAT_ID": "Z100", "WORKSTATION_ID": "WS-1"}


def test_floors_count_every_extract_row_once_and_the_lake_events(landing):
    landing.canonical([{"clinician_id": "c1", "event_time": f"2026-03-02T09:0{i}:00Z",
                        "action": "Chart opened"} for i in range(5)], name="a.csv")
    # Another header of the same format (a category column): its own read.
    landing.canonical([{"clinician_id": "c2", "event_time": "2026-03-02T10:00:00Z",
                        "action": "note_edit", "category": "notes"}] * 2, name="b.csv")
    plain = write_csv(landing.root / "plain.csv",
                      [_epic("c3", f"2026-03-02 12:0{i}:00") for i in range(4)], EPIC_COLUMNS)
    gz = landing.root / "audit" / "epic_access_log" / "access_log.csv.gz"
    gz.parent.mkdir(parents=True, exist_ok=True)
    gz.write_bytes(gzip.compress(plain.read_bytes()))
    plain.unlink()
    # Not an extract: never read (the ingest quarantines it whole).
    (landing.root / "audit" / "canonical" / "notes.docx").write_text("minutes of a meeting")
    published = landing.run()
    assert published.summary.ingest.rows_read == 11

    floor = _floor_module()
    groups = floor.extract_groups(landing.root)
    assert sorted(len(g["columns"]) for g in groups) == [3, 4, len(EPIC_COLUMNS)]
    floors = floor.measure_floors(landing.root, landing.warehouse / "lake", repeats=1, threads=1)
    assert floors["read"]["rows"] == floors["write"]["rows"] == 11
    # The lake holds the run's events, the two duplicates of b.csv included (stg_events flags them).
    assert floors["sort"]["rows"] == published.summary.ingest.rows_written == 11
    lines = floor.describe(floors)
    assert [line.split()[1] for line in lines] == ["read", "write", "sort"]
    assert "(11 rows)" in lines[0]


def test_floors_without_a_lake_leave_out_the_sort(landing):
    landing.canonical([{"clinician_id": "c1", "event_time": "2026-03-02T09:00:00Z",
                        "action": "Chart opened"}])
    floors = _floor_module().measure_floors(landing.root, None, repeats=2)
    assert set(floors) == {"read", "write"}
    assert floors["read"]["rows"] == 1
