"""Ingest: the manifest, quarantine, reconciliation, reference files and PHI (SPEC 1, 7, 8, 9)."""

from __future__ import annotations

import datetime as dt
import gzip
from collections import Counter
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
import pytest

from wow_metrics.pseudonym import ENV_VAR, MissingKeyError, patient_key, pseudonymize

TEST_KEY = b"test-only-pseudonym-key-not-a-secret-5f1c9e7a2b4d8036"  # tests/conftest.py's key
NEW_YORK = "America/New_York"
COUNT_COLUMNS = ("rows_read", "rows_loaded", "rows_quarantined", "rows_duplicate", "rows_excluded")


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


def ev(clinician_id: str, event_time: str, action: str = "Chart opened", **extra: Any) -> dict:
    """One canonical event row."""
    return {"clinician_id": clinician_id, "event_time": event_time, "action": action, **extra}


def epic_row(user: str, instant: str = "", local: str = "", metric: str = "In Basket message viewed",
             **extra: Any) -> dict:
    """One Epic ACCESS_LOG row."""
    return {"USER_ID": user, "ACCESS_INSTANT": instant, "ACCESS_TIME": local,
            "METRIC_NAME": metric, **extra}


def lake_events(landing) -> list[dict]:
    """Every event row in the pipeline's Parquet lake, by file and line."""
    files = sorted((landing.warehouse / "lake" / "events").glob("bucket=*/*.parquet"))
    if not files:
        return []
    with duckdb.connect() as con:
        con.execute("set TimeZone = 'UTC'")
        cur = con.execute(
            "select * from read_parquet($f, union_by_name = true) order by source_file, source_line",
            {"f": [str(p) for p in files]},
        )
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def manifest(pub, file_path: str) -> list[dict]:
    """ingest_manifest rows of one file path (oldest version first)."""
    return pub.query("select * from ingest_manifest where file_path = $p order by ingested_at, status",
                     {"p": file_path})


def live_manifest(pub, file_path: str) -> dict:
    rows = [r for r in manifest(pub, file_path) if r["status"] in ("ingested", "quarantined", "read")]
    assert len(rows) == 1, rows
    return rows[0]


def counts(row: dict) -> dict:
    return {k: row[k] for k in COUNT_COLUMNS}


def quarantined(pub, file_path: str) -> list[tuple[int | None, str]]:
    """(source_line, reason) of every quarantine row of one file, in line order."""
    return [(r["source_line"], r["reason"]) for r in pub.query(
        "select source_line, reason from quarantine where source_file = $p "
        "order by source_line nulls first", {"p": file_path})]


def assert_reconciles(pub) -> None:
    """SPEC 9 for every file in ingest_manifest: read = loaded + quarantined + duplicate + excluded.

    Versions no longer live (superseded, duplicate_content) must not claim loaded rows; every
    live version has all five counts, none negative, and its quarantine count matches the
    quarantine table's line-level rows for that file.
    """
    per_file = Counter(r["source_file"] for r in pub.query(
        "select source_file from quarantine where source_line is not null"))
    rows = pub.table("ingest_manifest")
    assert rows, "ingest_manifest is empty"
    for r in rows:
        if r["status"] in ("superseded", "duplicate_content"):
            assert r["rows_loaded"] in (None, 0), r
            continue
        values = counts(r)
        assert None not in values.values(), f"{r['file_path']} ({r['status']}): {values}"
        assert min(values.values()) >= 0, f"{r['file_path']}: {values}"
        assert r["rows_read"] == (r["rows_loaded"] + r["rows_quarantined"] + r["rows_duplicate"]
                                  + r["rows_excluded"]), f"{r['file_path']}: {values}"
        assert r["rows_quarantined"] == per_file.get(r["file_path"], 0), r


def published_snapshot(pub) -> dict[str, list[tuple]]:
    """Every published table's rows (run_id / ingested_at / checked_at dropped), order-independent."""
    snapshot = {}
    for (name,) in [tuple(r.values()) for r in pub.query(
            "select table_name from information_schema.tables order by 1")]:
        rows = pub.table(name)
        snapshot[name] = sorted(
            (tuple((k, v) for k, v in row.items() if k not in ("run_id", "ingested_at", "checked_at"))
             for row in rows),
            key=repr,
        )
    return snapshot


# ---------------------------------------------------------------------------------------------
# Ingest manifest
# ---------------------------------------------------------------------------------------------

def test_second_run_over_same_landing_ingests_nothing_and_tables_are_identical(landing):
    landing.roster([{"clinician_id": "c1", "department": "Medicine", "clinical_fte": "1.0"}])
    landing.schedule([{"clinician_id": "c1", "appointment_id": "A1",
                       "start_time": "2026-03-02T09:00:00", "duration_minutes": "60",
                       "status": "completed"}])
    landing.canonical([ev("c1", "2026-03-02T09:00:00Z"), ev("c1", "2026-03-02T09:04:00Z"),
                       ev("", "2026-03-02T09:05:00Z")], name="night-1.csv")
    landing.canonical([ev("c1", "2026-03-03T18:00:00Z"), ev("c1", "2026-03-03T18:02:00Z")],
                      name="night-2.csv")
    landing.epic([epic_row("c2", "2026-03-02 12:00:00"), epic_row("c2", "2026-03-02 12:03:00")])

    first = landing.run()
    assert first.summary.ingest.files_ingested == 3
    lake_before = sorted(p.name for p in (landing.warehouse / "lake").rglob("*.parquet"))
    snapshot = published_snapshot(first)

    second = landing.run()
    assert second.summary.ingest.files_seen == 3
    assert second.summary.ingest.files_ingested == 0
    assert second.summary.ingest.files_skipped == 3
    assert second.summary.ingest.files_quarantined == 0
    assert second.summary.ingest.rows_read == 0
    assert sorted(p.name for p in (landing.warehouse / "lake").rglob("*.parquet")) == lake_before
    assert published_snapshot(second) == snapshot
    assert [r["status"] for r in second.query(
        "select status from ingest_manifest where file_kind = 'audit_extract' order by file_path")
    ] == ["ingested", "ingested", "ingested"]
    assert_reconciles(second)


def test_new_nights_file_is_the_only_file_ingested(landing):
    landing.canonical([ev("c1", "2026-03-02T14:00:00Z"), ev("c1", "2026-03-02T14:03:00Z")],
                      name="2026-03-02.csv")
    first = landing.run()
    assert first.summary.ingest.files_ingested == 1

    landing.canonical([ev("c1", "2026-03-03T14:00:00Z"), ev("c1", "2026-03-03T14:05:00Z"),
                       ev("c1", "2026-03-03T14:06:00Z")], name="2026-03-03.csv")
    second = landing.run()
    assert second.summary.ingest.files_seen == 2
    assert second.summary.ingest.files_ingested == 1
    assert second.summary.ingest.files_skipped == 1
    assert second.summary.ingest.rows_read == 3
    assert second.summary.ingest.rows_written == 3

    old = live_manifest(second, "audit/canonical/2026-03-02.csv")
    new = live_manifest(second, "audit/canonical/2026-03-03.csv")
    assert old["status"] == new["status"] == "ingested"
    assert old["run_id"] == first.summary.run_id
    assert new["run_id"] == second.summary.run_id
    assert counts(new) == {"rows_read": 3, "rows_loaded": 3, "rows_quarantined": 0,
                           "rows_duplicate": 0, "rows_excluded": 0}
    assert [(d["activity_date"], d["events"], d["ehr_minutes"]) for d in second.days("c1")] == [
        (dt.date(2026, 3, 2), 2, 3.0), (dt.date(2026, 3, 3), 3, 6.0)]
    assert_reconciles(second)


def test_same_content_under_two_names_is_ingested_once(landing):
    original = landing.canonical([ev("c1", "2026-03-02T14:00:00Z"), ev("c1", "2026-03-02T14:02:00Z"),
                                  ev("c1", "2026-03-02T14:03:00Z")], name="a.csv")
    (original.parent / "b.csv").write_bytes(original.read_bytes())

    first = landing.run()
    assert first.summary.ingest.files_ingested == 1
    assert first.summary.ingest.files_skipped == 1
    assert [(r["file_path"], r["status"]) for r in first.query(
        "select file_path, status from ingest_manifest where file_kind = 'audit_extract' "
        "order by file_path")] == [("audit/canonical/a.csv", "ingested"),
                                   ("audit/canonical/b.csv", "duplicate_content")]
    assert first.day("c1", "2026-03-02")["events"] == 3
    assert first.day("c1", "2026-03-02")["ehr_minutes"] == 3.0
    assert len(lake_events(landing)) == 3
    assert_reconciles(first)

    # The same bytes arriving again under a third name in a later night.
    (original.parent / "c.csv").write_bytes(original.read_bytes())
    second = landing.run()
    assert second.summary.ingest.files_ingested == 0
    assert second.summary.ingest.files_skipped == 3
    assert [r["status"] for r in manifest(second, "audit/canonical/c.csv")] == ["duplicate_content"]
    assert second.day("c1", "2026-03-02")["events"] == 3
    assert_reconciles(second)


def test_a_stray_copy_in_an_unknown_folder_never_hides_the_real_extract(landing):
    """Issue 21, case 3: a copy under audit/Canonical/ (no such format) sorts before the real
    audit/canonical/ file. It is quarantined whole, and the real file is still ingested: content
    de-duplication is only among files that can be ingested."""
    rows = [ev("c1", "2026-03-03T14:00:00Z"), ev("c1", "2026-03-03T14:02:00Z"),
            ev("c1", "2026-03-03T14:05:00Z")]
    real = landing.canonical(rows, name="2026/03/events_2026-03-03.csv")
    stray = landing.root / "audit" / "Canonical" / "2026" / "03" / "events_2026-03-03.csv"
    stray.parent.mkdir(parents=True)
    stray.write_bytes(real.read_bytes())
    also_stray = real.parent / "events_2026-03-03.csv.bak"  # not an extract file type
    also_stray.write_bytes(real.read_bytes())

    first = landing.run()
    assert first.day("c1", "2026-03-03")["events"] == 3
    assert len(lake_events(landing)) == 3
    by_path = {r["file_path"]: r for r in first.query(
        "select * from ingest_manifest where file_kind = 'audit_extract'")}
    assert by_path["audit/canonical/2026/03/events_2026-03-03.csv"]["status"] == "ingested"
    for path in ("audit/Canonical/2026/03/events_2026-03-03.csv",
                 "audit/canonical/2026/03/events_2026-03-03.csv.bak"):
        assert (by_path[path]["status"], by_path[path]["format"]) == ("quarantined", None)
        ((line, reason),) = quarantined(first, path)
        assert line is None and reason.startswith("file quarantined: ")
    assert "unknown extract format folder audit/Canonical" in quarantined(
        first, "audit/Canonical/2026/03/events_2026-03-03.csv")[0][1]
    assert_reconciles(first)

    # The stray copies removed, the next (incremental) run keeps every event.
    stray.unlink()
    also_stray.unlink()
    second = landing.run()
    assert second.summary.build.startswith("incremental")
    assert second.day("c1", "2026-03-03")["events"] == 3
    assert_reconciles(second)


def test_an_extract_shadowed_by_a_stray_copy_in_an_older_lake_is_recovered(landing):
    """A lake written before the fix recorded the real file as duplicate_content of the stray
    copy: the next run ingests it, without --full-refresh."""
    import pyarrow as pa

    from wow_metrics.lake import MANIFEST_SCHEMA, Lake

    rows = [ev("c1", "2026-03-03T14:00:00Z"), ev("c1", "2026-03-03T14:02:00Z")]
    real = landing.canonical(rows, name="events_2026-03-03.csv")
    stray = landing.root / "audit" / "Canonical" / "events_2026-03-03.csv"
    stray.parent.mkdir(parents=True)
    stray.write_bytes(real.read_bytes())
    landing.run()
    # What the earlier code left: the real file skipped as a copy, its events gone.
    lake = Lake(landing.warehouse)
    manifest_rows = lake.load_manifest()
    for row in manifest_rows:
        if row["file_path"] == "audit/canonical/events_2026-03-03.csv":
            row.update(status="duplicate_content", rows_read=None, rows_quarantined=None,
                       rows_written=None, message="same content as the stray copy")
            for path in lake.events_paths(row["content_sha256"]):
                path.unlink()
    pa.Table.from_pylist(manifest_rows, schema=MANIFEST_SCHEMA)
    lake.save_manifest(manifest_rows)
    stray.unlink()

    pub = landing.run()
    assert pub.day("c1", "2026-03-03")["events"] == 2
    assert live_manifest(pub, "audit/canonical/events_2026-03-03.csv")["status"] == "ingested"
    assert_reconciles(pub)


def test_changed_file_with_same_name_supersedes_the_old_version(landing):
    landing.canonical([ev("c1", "2026-03-02T14:00:00Z"), ev("c1", "2026-03-02T14:02:00Z"),
                       ev("", "2026-03-02T14:03:00Z")], name="night.csv")
    first = landing.run()
    assert first.day("c1", "2026-03-02")["events"] == 2
    assert quarantined(first, "audit/canonical/night.csv") == [(4, "missing clinician_id")]

    landing.canonical([ev("c1", "2026-03-04T15:00:00Z"), ev("c1", "2026-03-04T15:04:00Z"),
                       ev("c2", "2026-03-04T16:00:00Z"), ev("c2", "2026-03-04T16:01:00Z")],
                      name="night.csv")
    second = landing.run()
    assert second.summary.ingest.files_ingested == 1
    assert second.summary.ingest.files_skipped == 0

    versions = manifest(second, "audit/canonical/night.csv")
    assert [(r["status"], r["rows_read"]) for r in versions] == [("superseded", 3), ("ingested", 4)]
    assert versions[0]["content_sha256"] != versions[1]["content_sha256"]
    # Old rows gone from every table, new rows present.
    assert second.day("c1", "2026-03-02") is None
    assert [(d["activity_date"], d["events"], d["ehr_minutes"]) for d in second.days("c1")] == [
        (dt.date(2026, 3, 4), 2, 4.0)]
    assert second.day("c2", "2026-03-04")["events"] == 2
    assert quarantined(second, "audit/canonical/night.csv") == []
    assert sorted(e["event_at"] for e in lake_events(landing)) == [
        utc(2026, 3, 4, 15, 0), utc(2026, 3, 4, 15, 4), utc(2026, 3, 4, 16, 0), utc(2026, 3, 4, 16, 1)]
    assert any("night.csv" in w for w in second.summary.warnings)
    assert_reconciles(second)


def test_content_shared_by_two_names_survives_when_the_first_name_changes(landing):
    """b.csv was skipped as a copy of a.csv; when a.csv changes, b.csv's rows must not vanish."""
    original = landing.canonical([ev("c1", "2026-03-02T14:00:00Z"), ev("c1", "2026-03-02T14:02:00Z")],
                                 name="a.csv")
    (original.parent / "b.csv").write_bytes(original.read_bytes())
    landing.run()

    landing.canonical([ev("c2", "2026-03-03T14:00:00Z"), ev("c2", "2026-03-03T14:01:00Z")],
                      name="a.csv")
    pub = landing.run()
    # b.csv is still in the landing zone with c1's events: they are still measured.
    assert pub.day("c1", "2026-03-02") is not None
    assert pub.day("c1", "2026-03-02")["events"] == 2
    assert pub.day("c2", "2026-03-03")["events"] == 2
    assert_reconciles(pub)


def test_file_changed_back_to_an_earlier_version_is_ingested_again(landing):
    """A changed file with the same name is a new file (SPEC 1), even if it matches an old version."""
    v1 = [ev("c1", "2026-03-02T14:00:00Z"), ev("c1", "2026-03-02T14:02:00Z")]
    landing.canonical(v1, name="night.csv")
    landing.run()
    landing.canonical([ev("c1", "2026-03-05T14:00:00Z"), ev("c1", "2026-03-05T14:09:00Z"),
                       ev("c1", "2026-03-05T14:10:00Z")], name="night.csv")
    landing.run()
    landing.canonical(v1, name="night.csv")
    pub = landing.run()
    assert pub.summary.ingest.files_ingested == 1
    assert [d["activity_date"] for d in pub.days("c1")] == [dt.date(2026, 3, 2)]
    assert_reconciles(pub)


# ---------------------------------------------------------------------------------------------
# Row-level quarantine: file, line (header = line 1) and reason
# ---------------------------------------------------------------------------------------------

BAD_CANONICAL_ROWS = {
    "missing clinician_id": (ev("", "2026-03-02T14:01:00Z"), None, "clinician_id"),
    "unparseable time": (ev("c1", "yesterday at noon"), "c1", "unparseable"),
    "impossible date": (ev("c1", "2026-02-30T14:01:00"), "c1", "unparseable"),
    "naive time in the DST gap": (ev("c1", "2026-03-08T02:30:00"), "c1", "DST"),
    "before 1990": (ev("c1", "1989-12-31T23:59:59Z"), "c1", "1990"),
    "in the future": (ev("c1", "2099-01-01T00:00:00Z"), "c1", "future"),
    "unknown category": (ev("c1", "2026-03-02T14:01:00Z", category="paperwork"), "c1", "category"),
    "missing action": (ev("c1", "2026-03-02T14:01:00Z", action=""), "c1", "action"),
}


@pytest.mark.parametrize("case", list(BAD_CANONICAL_ROWS))
def test_bad_canonical_row_is_quarantined_with_file_line_and_reason(landing, case):
    bad, clinician, reason_word = BAD_CANONICAL_ROWS[case]
    landing.config(default_timezone=NEW_YORK)
    landing.canonical([ev("c1", "2026-03-02T14:00:00Z"), bad, ev("c1", "2026-03-02T14:03:00Z")],
                      name="night.csv")
    pub = landing.run()

    rows = pub.query("select * from quarantine where source_file = 'audit/canonical/night.csv'")
    assert len(rows) == 1, rows
    assert rows[0]["source_line"] == 3
    assert reason_word.lower() in rows[0]["reason"].lower(), rows[0]["reason"]
    assert rows[0]["clinician_id"] == clinician
    assert counts(live_manifest(pub, "audit/canonical/night.csv")) == {
        "rows_read": 3, "rows_loaded": 2, "rows_quarantined": 1, "rows_duplicate": 0,
        "rows_excluded": 0}
    day = pub.day("c1", "2026-03-02")
    assert (day["events"], day["ehr_minutes"]) == (2, 3.0)
    assert [e["source_line"] for e in lake_events(landing)] == [2, 4]
    assert_reconciles(pub)


def test_naive_time_in_the_repeated_hour_takes_the_earlier_instant(landing):
    landing.config(default_timezone=NEW_YORK)
    # 01:30 happens twice in New York on 2026-11-01: 05:30 UTC (EDT) and 06:30 UTC (EST).
    landing.canonical([ev("c1", "2026-11-01T01:30:00", category="inbox"),
                       ev("c1", "2026-11-01T05:33:00Z", category="inbox")], name="fallback.csv")
    pub = landing.run()

    assert quarantined(pub, "audit/canonical/fallback.csv") == []
    events = lake_events(landing)
    assert [(e["source_line"], e["event_at"], e["is_time_ambiguous"]) for e in events] == [
        (2, utc(2026, 11, 1, 5, 30), True), (3, utc(2026, 11, 1, 5, 33), False)]
    day = pub.day("c1", "2026-11-01")
    # Earlier instant: 05:30 -> 05:33 is 3 active minutes (the later one, 06:30, would be idle).
    assert (day["events"], day["ehr_minutes"], day["inbox_minutes"]) == (2, 3.0, 3.0)
    assert_reconciles(pub)


def test_epic_access_time_is_used_only_where_access_instant_is_empty(landing):
    landing.config(default_timezone=NEW_YORK)
    landing.epic([
        # line 2: the instant wins over a contradicting server wall clock
        epic_row("u1", "2026-03-02 14:00:00", "2026-03-02 03:00:00"),
        # line 3: no instant: 09:02 EST is 14:02 UTC
        epic_row("u1", "", "2026-03-02 09:02:00"),
        # line 4: an unparseable instant is not replaced by ACCESS_TIME
        epic_row("u1", "not a time", "2026-03-02 09:03:00"),
        # line 5: neither
        epic_row("u1", "", ""),
        # line 6: wall clock in the DST gap
        epic_row("u1", "", "2026-03-08 02:30:00"),
        # line 7: wall clock in the repeated hour: the earlier instant, flagged
        epic_row("u1", "", "2026-11-01 01:30:00"),
        # lines 8, 9: out of range
        epic_row("u1", "1989-12-31 23:59:59"),
        epic_row("u1", "2099-01-01 00:00:00"),
        # line 10: a system event (shipped action map: exclude)
        epic_row("u1", "2026-03-02 14:04:00", metric="Order transmitted"),
    ], name="access.csv")
    pub = landing.run()

    lines = quarantined(pub, "audit/epic_access_log/access.csv")
    assert [line for line, _ in lines] == [4, 5, 6, 8, 9]
    reasons = dict(lines)
    assert "ACCESS_INSTANT" in reasons[4]
    assert "ACCESS_INSTANT" in reasons[5] and "ACCESS_TIME" in reasons[5]
    assert "DST" in reasons[6]
    assert "1990" in reasons[8]
    assert "future" in reasons[9]

    events = lake_events(landing)
    assert [(e["source_line"], e["event_at"], e["is_time_ambiguous"]) for e in events] == [
        (2, utc(2026, 3, 2, 14, 0), False),
        (3, utc(2026, 3, 2, 14, 2), False),
        (7, utc(2026, 11, 1, 5, 30), True),
        (10, utc(2026, 3, 2, 14, 4), False),
    ]
    day = pub.day("u1", "2026-03-02")
    assert (day["events"], day["ehr_minutes"], day["inbox_minutes"]) == (2, 2.0, 2.0)
    assert counts(live_manifest(pub, "audit/epic_access_log/access.csv")) == {
        "rows_read": 9, "rows_loaded": 3, "rows_quarantined": 5, "rows_duplicate": 0,
        "rows_excluded": 1}
    assert_reconciles(pub)


def _epic_wrong_header() -> bytes:
    return (b"USERID,ACCESS_INSTANT,METRIC_NAME\n"
            b"u1,2026-03-02 14:00:00,In Basket message viewed\n")


def _truncated_gzip() -> bytes:
    body = b"clinician_id,event_time,action\n" + b"".join(
        f"c9,2026-03-02T14:{i:02d}:00Z,Chart opened\n".encode() for i in range(50))
    packed = gzip.compress(body)
    return packed[: len(packed) - 20]


WHOLE_FILE_CASES = {
    "epic wrong header": ("audit/epic_access_log/access.csv", _epic_wrong_header, "USER_ID"),
    "truncated csv.gz": ("audit/canonical/night.csv.gz", _truncated_gzip, "gzip"),
    "empty file": ("audit/canonical/night.csv", lambda: b"", "empty"),
    "binary, not CSV": ("audit/canonical/night.csv", lambda: b"\x00\x01\x02PK\x03\x04\x00" * 20, "csv"),
}


@pytest.mark.parametrize("case", list(WHOLE_FILE_CASES))
def test_unreadable_file_is_quarantined_whole_and_the_run_goes_on(landing, case):
    relative, content, reason_word = WHOLE_FILE_CASES[case]
    landing.canonical([ev("c1", "2026-03-02T14:00:00Z"), ev("c1", "2026-03-02T14:02:00Z")],
                      name="good.csv")
    bad = landing.root / relative
    bad.parent.mkdir(parents=True, exist_ok=True)
    bad.write_bytes(content())

    pub = landing.run()
    assert pub.summary.ingest.files_ingested == 1
    assert pub.summary.ingest.files_quarantined == 1
    rows = quarantined(pub, relative)
    assert len(rows) == 1, rows
    line, reason = rows[0]
    assert line is None
    assert reason_word.lower() in reason.lower(), reason
    assert [r["status"] for r in manifest(pub, relative)] == ["quarantined"]
    assert any(relative in w for w in pub.summary.warnings), pub.summary.warnings
    # The rest of the run went on and published.
    assert pub.day("c1", "2026-03-02")["events"] == 2
    assert pub.day("c9", "2026-03-02") is None
    assert {e["source_file"] for e in lake_events(landing)} == {"audit/canonical/good.csv"}
    assert_reconciles(pub)


def test_header_only_file_is_ingested_with_zero_rows(landing):
    landing.canonical([], name="quiet-night.csv")
    pub = landing.run()
    assert pub.summary.ingest.files_ingested == 1
    row = live_manifest(pub, "audit/canonical/quiet-night.csv")
    assert row["status"] == "ingested"
    assert counts(row) == {"rows_read": 0, "rows_loaded": 0, "rows_quarantined": 0,
                           "rows_duplicate": 0, "rows_excluded": 0}
    assert quarantined(pub, "audit/canonical/quiet-night.csv") == []
    assert pub.table("ehr_time_by_clinician_day") == []
    assert_reconciles(pub)


def test_record_with_too_many_fields_is_quarantined_with_its_line(landing):
    path = landing.root / "audit" / "canonical" / "night.csv"
    path.parent.mkdir(parents=True)
    path.write_text(
        "clinician_id,event_time,action\n"
        "c1,2026-03-02T14:00:00Z,Chart opened\n"
        "c1,2026-03-02T14:01:00Z,Chart opened,extra,fields\n"
        "c1,2026-03-02T14:03:00Z,Chart opened\n"
    )
    pub = landing.run()
    rows = quarantined(pub, "audit/canonical/night.csv")
    assert [line for line, _ in rows] == [3]
    assert "column" in rows[0][1].lower() or "field" in rows[0][1].lower(), rows[0][1]
    assert counts(live_manifest(pub, "audit/canonical/night.csv")) == {
        "rows_read": 3, "rows_loaded": 2, "rows_quarantined": 1, "rows_duplicate": 0,
        "rows_excluded": 0}
    assert [e["source_line"] for e in lake_events(landing)] == [2, 4]
    assert pub.day("c1", "2026-03-02")["ehr_minutes"] == 3.0
    assert_reconciles(pub)


def test_line_numbers_are_physical_after_a_quoted_embedded_newline(landing):
    path = landing.root / "audit" / "canonical" / "night.csv"
    path.parent.mkdir(parents=True)
    path.write_text(
        "clinician_id,event_time,action,workstation_id\n"     # line 1
        'c1,2026-03-02T14:00:00Z,"Chart\n'                   # line 2 (record spans 2-3)
        'opened",WS1\n'                                       # line 3
        "c1,2026-03-02T14:01:00Z,Chart opened,WS1,surplus\n"  # line 4: too many fields
        ",2026-03-02T14:02:00Z,Chart opened,WS1\n"            # line 5: missing clinician
        "c1,2026-03-02T14:03:00Z,Chart opened,WS1\n"          # line 6
    )
    pub = landing.run()
    rows = quarantined(pub, "audit/canonical/night.csv")
    assert [line for line, _ in rows] == [4, 5]
    assert rows[1][1] == "missing clinician_id"
    events = lake_events(landing)
    # (A line break is allowed inside text such as an action, never inside an id.)
    assert [(e["source_line"], e["action"]) for e in events] == [(2, "Chart\nopened"),
                                                                  (6, "Chart opened")]
    assert counts(live_manifest(pub, "audit/canonical/night.csv")) == {
        "rows_read": 4, "rows_loaded": 2, "rows_quarantined": 2, "rows_duplicate": 0,
        "rows_excluded": 0}
    assert_reconciles(pub)


# ---------------------------------------------------------------------------------------------
# Reference files
# ---------------------------------------------------------------------------------------------

def test_bad_roster_rows_are_quarantined_and_the_clinician_is_measured_as_unknown(landing):
    landing.roster([
        {"clinician_id": "c1", "department": "Surgery", "clinical_fte": "0"},            # line 2
        {"clinician_id": "c2", "department": "Surgery", "clinical_fte": "1.6"},          # line 3
        {"clinician_id": "c3", "department": "Cardiology", "clinical_fte": "1.5",
         "timezone": "America/Chicago"},                                                 # line 4
        {"clinician_id": "c4", "department": "Surgery", "clinical_fte": "1.0",
         "timezone": "Mars/Olympus"},                                                    # line 5
        {"clinician_id": "c5", "department": "Family Medicine", "clinical_fte": "0.8"},  # line 6
        {"clinician_id": "c6", "department": "Surgery", "clinical_fte": "-0.5"},         # line 7
    ])
    landing.canonical([ev(c, t) for c in ("c1", "c2", "c3", "c4", "c5", "c6")
                       for t in ("2026-03-02T18:00:00Z", "2026-03-02T18:04:00Z")])
    # 4 of 6 rows rejected would refuse publication (tests/unit/test_reference_checks.py); here
    # the site lowers that to a warning to see what the rejected rows do to the tables.
    landing.config(reference_check_severity="warning")
    pub = landing.run()
    assert any(w.startswith("ingest_manifest.reference_rows_mostly_rejected")
               for w in pub.summary.warnings), pub.summary.warnings
    causes = next(w for w in pub.summary.warnings if "unrostered_clinician" in w)
    assert "('c4', 'roster row rejected: unknown time zone Mars/Olympus " \
           "(reference/roster.csv line 5)')" in causes

    rows = quarantined(pub, "reference/roster.csv")
    assert [line for line, _ in rows] == [2, 3, 5, 7]
    reasons = dict(rows)
    assert "clinical_fte" in reasons[2] and "range" in reasons[2]
    assert "clinical_fte" in reasons[3] and "range" in reasons[3]
    assert "Mars/Olympus" in reasons[5] and "zone" in reasons[5]
    assert "clinical_fte" in reasons[7] and "range" in reasons[7]

    periods = {r["clinician_id"]: r for r in pub.query(
        "select * from ehr_time_by_clinician_period where period_start = DATE '2026-03-01'")}
    assert {c: (r["department"], r["clinical_fte"], r["timezone"]) for c, r in periods.items()} == {
        "c1": ("unknown", None, "UTC"),
        "c2": ("unknown", None, "UTC"),
        "c3": ("Cardiology", 1.5, "America/Chicago"),
        "c4": ("unknown", None, "UTC"),
        "c5": ("Family Medicine", 0.8, "UTC"),
        "c6": ("unknown", None, "UTC"),
    }
    for c in ("c1", "c2", "c4", "c6"):
        assert periods[c]["ehr_hours"] == pytest.approx(4 / 60)
        assert periods[c]["ehr_hours_per_fte_week"] is None
    assert counts(live_manifest(pub, "reference/roster.csv")) == {
        "rows_read": 6, "rows_loaded": 2, "rows_quarantined": 4, "rows_duplicate": 0,
        "rows_excluded": 0}
    assert_reconciles(pub)


def test_clinician_with_events_but_no_roster_row_is_a_warning(landing):
    landing.roster([{"clinician_id": "DR-ROSTERED", "department": "Medicine", "clinical_fte": "1.0"}])
    landing.canonical([ev(c, t) for c in ("DR-ROSTERED", "DR-GHOST")
                       for t in ("2026-03-02T18:00:00Z", "2026-03-02T18:04:00Z")])
    pub = landing.run()

    roster_warnings = [w for w in pub.summary.warnings if "roster" in w]
    assert len(roster_warnings) == 1, pub.summary.warnings
    assert "DR-GHOST" in roster_warnings[0]
    assert "DR-ROSTERED" not in roster_warnings[0]
    ghost = pub.period("DR-GHOST", "2026-03-01")
    assert (ghost["department"], ghost["clinical_fte"]) == ("unknown", None)
    assert ghost["ehr_hours"] == pytest.approx(4 / 60)
    assert pub.period("DR-ROSTERED", "2026-03-01")["department"] == "Medicine"
    assert_reconciles(pub)


def test_schedule_rows_bad_canceled_and_replaced(landing):
    landing.roster([{"clinician_id": "c1", "department": "Medicine", "clinical_fte": "1.0"}])
    landing.schedule([
        {"clinician_id": "c1", "appointment_id": "A1", "start_time": "2026-03-02T09:00:00",
         "duration_minutes": "30", "status": "scheduled"},                      # line 2: good
        {"clinician_id": "c1", "appointment_id": "A2", "start_time": "2026-03-02T10:00:00",
         "duration_minutes": "0", "status": "completed"},                       # line 3: duration
        {"clinician_id": "c1", "appointment_id": "A3", "start_time": "2026-03-02T10:00:00",
         "duration_minutes": "half an hour", "status": "arrived"},              # line 4: duration
        {"clinician_id": "c1", "appointment_id": "A4", "start_time": "2026-03-02T11:00:00",
         "duration_minutes": "20", "status": "pending"},                        # line 5: status
        {"clinician_id": "c1", "appointment_id": "A5", "start_time": "next tuesday",
         "duration_minutes": "20", "status": "scheduled"},                      # line 6: start
        {"clinician_id": "c1", "appointment_id": "A6", "start_time": "2026-03-02T13:00:00",
         "duration_minutes": "30", "status": "Canceled"},                       # line 7: excluded
        {"clinician_id": "c1", "appointment_id": "A7", "start_time": "2026-03-02T14:00:00",
         "duration_minutes": "30", "status": "scheduled"},                      # line 8: replaced
        {"clinician_id": "c1", "appointment_id": "A8", "start_time": "2026-03-02T15:00:00",
         "duration_minutes": "-10", "status": "no_show"},                       # line 9: duration
    ], name="a.csv")
    landing.schedule([
        {"clinician_id": "c1", "appointment_id": "A7", "start_time": "2026-03-02T14:30:00",
         "duration_minutes": "45", "status": "arrived"},
    ], name="b.csv")
    landing.config(reference_check_severity="warning")  # 5 of 8 rows rejected: reported only
    pub = landing.run()

    rows = quarantined(pub, "reference/schedule/a.csv")
    assert [line for line, _ in rows] == [3, 4, 5, 6, 9]
    reasons = dict(rows)
    for line in (3, 4, 9):
        assert "duration" in reasons[line], reasons[line]
    assert "status" in reasons[5] and "pending" in reasons[5]
    assert "start_time" in reasons[6]
    assert quarantined(pub, "reference/schedule/b.csv") == []

    assert counts(live_manifest(pub, "reference/schedule/a.csv")) == {
        "rows_read": 8, "rows_loaded": 1, "rows_quarantined": 5, "rows_duplicate": 1,
        "rows_excluded": 1}
    assert counts(live_manifest(pub, "reference/schedule/b.csv")) == {
        "rows_read": 1, "rows_loaded": 1, "rows_quarantined": 0, "rows_duplicate": 0,
        "rows_excluded": 0}
    day = pub.day("c1", "2026-03-02")
    assert (day["appointments"], day["scheduled_minutes"]) == (2, 75.0)
    assert_reconciles(pub)


# ---------------------------------------------------------------------------------------------
# Duplicates and exclusions
# ---------------------------------------------------------------------------------------------

def test_duplicates_count_against_the_later_file_in_name_order(landing):
    # The later-named file arrives first ...
    landing.canonical([ev("c1", "2026-03-02T14:00:00Z"), ev("c1", "2026-03-02T14:02:00Z"),
                       ev("c1", "2026-03-02T14:04:00Z", category="exclude")], name="night-2.csv")
    landing.run()
    # ... and the earlier-named one the next night, repeating one of its events.
    landing.canonical([ev("c1", "2026-03-02T13:58:00Z"), ev("c1", "2026-03-02T14:00:00Z")],
                      name="night-1.csv")
    pub = landing.run()

    assert counts(live_manifest(pub, "audit/canonical/night-1.csv")) == {
        "rows_read": 2, "rows_loaded": 2, "rows_quarantined": 0, "rows_duplicate": 0,
        "rows_excluded": 0}
    assert counts(live_manifest(pub, "audit/canonical/night-2.csv")) == {
        "rows_read": 3, "rows_loaded": 1, "rows_quarantined": 0, "rows_duplicate": 1,
        "rows_excluded": 1}
    day = pub.day("c1", "2026-03-02")
    assert (day["events"], day["ehr_minutes"]) == (3, 4.0)
    assert_reconciles(pub)


def test_excluded_and_duplicate_epic_events_are_counted(landing):
    landing.epic([
        epic_row("u1", "2026-03-02 14:10:00", WORKSTATION_ID="WS1"),                       # 2
        epic_row("u1", "2026-03-02 14:10:00", WORKSTATION_ID="WS1"),                       # 3 dup
        epic_row("u1", "2026-03-02 14:11:00", metric="Order transmitted"),                 # 4 excl
        epic_row("u1", "2026-03-02 14:12:00", metric="In Basket message created"),         # 5 excl
        epic_row("u1", "2026-03-02 14:13:00", metric="Notes viewed", WORKSTATION_ID="WS1"),  # 6
    ])
    pub = landing.run()
    assert counts(live_manifest(pub, "audit/epic_access_log/access_log.csv")) == {
        "rows_read": 5, "rows_loaded": 2, "rows_quarantined": 0, "rows_duplicate": 1,
        "rows_excluded": 2}
    day = pub.day("u1", "2026-03-02")
    assert (day["events"], day["ehr_minutes"], day["inbox_minutes"]) == (2, 3.0, 3.0)
    assert_reconciles(pub)


# ---------------------------------------------------------------------------------------------
# PHI (SPEC 7)
# ---------------------------------------------------------------------------------------------

PATIENT_IDS = ["ZPAT-123456", "ZPAT-654321", "ZPAT-555555", "ZPAT-777777", "ZPAT-999999"]
CSNS = ["73100421990017", "73100421990029"]


def _scan_for_phi(warehouse: Path, needles: list[str]) -> list[str]:
    """Every place (file bytes, decoded Parquet values, DuckDB values) a needle occurs."""
    found = []
    files = [p for p in warehouse.rglob("*") if p.is_file()]
    assert any(p.name == "wow.duckdb" for p in files)
    assert any(p.suffix == ".parquet" for p in files)
    for path in files:
        data = path.read_bytes()
        for needle in needles:
            for encoded in (needle.encode("utf-8"), needle.encode("utf-16-le")):
                if encoded in data:
                    found.append(f"{path.relative_to(warehouse)} (bytes): {needle}")
        if path.suffix == ".parquet":
            text = repr(pq.read_table(path).to_pylist())
            found += [f"{path.relative_to(warehouse)} (values): {n}" for n in needles if n in text]
    with duckdb.connect(str(warehouse / "wow.duckdb"), read_only=True) as con:
        tables = [r[0] for r in con.execute(
            "select table_name from information_schema.tables").fetchall()]
        for table in tables:
            text = repr(con.execute(f'select * from "{table}"').fetchall())
            found += [f"wow.duckdb {table}: {n}" for n in needles if n in text]
    return found


def test_patient_identifiers_never_reach_the_warehouse_in_the_clear(landing):
    landing.config(default_timezone=NEW_YORK)
    landing.canonical([
        ev("c1", "2026-03-02T14:00:00Z", patient_id="ZPAT-123456", workstation_id="WS1"),
        ev("c1", "2026-03-02T14:02:00Z", patient_id="ZPAT-123456", workstation_id="WS1"),
        ev("c1", "not a time", patient_id="ZPAT-555555", workstation_id="WS1"),  # quarantined
    ], name="night.csv")
    broken = landing.root / "audit" / "canonical" / "broken.csv"
    broken.write_text("clinician_id,event_time,action,patient_id\n"
                      "c1,2026-03-02T15:00:00Z,Chart opened,ZPAT-777777,surplus\n")
    landing.epic([
        epic_row("u1", "2026-03-02 14:00:00", PAT_ID="ZPAT-654321", CSN=CSNS[0]),
        epic_row("u1", "2026-03-02 14:03:00", PAT_ID="ZPAT-654321", CSN=CSNS[0]),
        epic_row("u1", "garbage", PAT_ID="ZPAT-555555", CSN=CSNS[1]),  # quarantined
    ])
    wrong = landing.root / "audit" / "epic_access_log" / "wrong_header.csv"
    wrong.write_text("USERID,ACCESS_INSTANT,METRIC_NAME,PAT_ID,CSN\n"
                     f"u1,2026-03-02 14:00:00,Notes viewed,ZPAT-999999,{CSNS[1]}\n")
    pub = landing.run()
    assert pub.summary.rows_quarantined_total >= 4  # the run did see the bad rows and file

    assert _scan_for_phi(landing.warehouse, PATIENT_IDS + CSNS) == []

    events = lake_events(landing)
    by_source = {(e["source_file"], e["source_line"]): e for e in events}
    # The lake keeps the first 64 bits of the HMAC (lake layout 2), not the 64 hex digits.
    assert by_source[("audit/canonical/night.csv", 2)]["patient_key"] == patient_key(
        TEST_KEY, "ZPAT-123456") == int(pseudonymize(TEST_KEY, "ZPAT-123456")[:16], 16)
    epic = by_source[("audit/epic_access_log/access_log.csv", 2)]
    assert epic["patient_key"] == patient_key(TEST_KEY, "ZPAT-654321")
    # Encounter ids are read (a bad one quarantines its row) but not kept, nor are metric and
    # process ids: the lake holds what the build and the audit trail need.
    assert not {"encounter_key", "metric_id", "process_id"} & set(epic)


def test_missing_pseudonym_key_fails_naming_the_variable(landing, monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    landing.canonical([ev("c1", "2026-03-02T14:00:00Z", patient_id="ZPAT-123456")])
    with pytest.raises(MissingKeyError, match="WOW_PSEUDONYM_KEY"):
        landing.run()
    assert not (landing.warehouse / "lake").exists()


def test_blank_pseudonym_key_fails_naming_the_variable(landing, monkeypatch):
    monkeypatch.setenv(ENV_VAR, "   ")
    landing.canonical([ev("c1", "2026-03-02T14:00:00Z", patient_id="ZPAT-123456")])
    with pytest.raises(MissingKeyError, match="WOW_PSEUDONYM_KEY"):
        landing.run()
    assert not (landing.warehouse / "lake").exists()


def test_clinician_whose_only_events_are_excluded_reconciles_and_has_no_day(landing):
    # Found by hypothesis: such a clinician had no calendar dates, so the excluded row was never
    # counted and the manifest did not reconcile (the run failed its audits).
    landing.config(default_timezone=NEW_YORK)
    landing.canonical([ev("a", "2026-03-08T05:00:00Z", action="sys", category="exclude"),
                       ev("b", "2026-03-08T05:00:00Z", category="inbox"),
                       ev("b", "2026-03-08T05:00:00Z", category="inbox")], name="night.csv")
    pub = landing.run()
    assert counts(live_manifest(pub, "audit/canonical/night.csv")) == {
        "rows_read": 3, "rows_loaded": 1, "rows_quarantined": 0, "rows_duplicate": 1,
        "rows_excluded": 1}
    assert pub.days("a") == []
    assert [d["events"] for d in pub.days("b")] == [1]
    assert_reconciles(pub)


@pytest.mark.parametrize(("settings", "extracts", "workers", "limits"), [
    # Two cores: two extracts at a time, a core and a third of the memory each (the reference
    # staging beside them has the last third).
    ({"threads": 2, "memory_limit": "4GB"}, 180, 2, ("1333333333B", 1)),
    ({"threads": 2, "memory_limit": "1.5GiB"}, 180, 2, ("536870912B", 1)),
    ({"threads": 2}, 180, 2, (None, 1)),
    # One thread, or one extract: one at a time with everything the run was given.
    ({"threads": 1, "memory_limit": "2MB"}, 180, 1, ("2MB", 1)),
    ({"threads": 8, "memory_limit": "8GB"}, 1, 1, ("8GB", 8)),
    # Never more than four; a memory_limit form that cannot be split: one at a time.
    ({"threads": 16, "memory_limit": "16GB"}, 180, 4, ("3200000000B", 4)),
    ({"threads": 2, "memory_limit": "50%"}, 180, 1, ("50%", 2)),
])
def test_extracts_are_read_side_by_side_within_the_runs_limits(settings, extracts, workers,
                                                                limits):
    from wow_metrics.config import Settings, memory_limit_bytes
    from wow_metrics.ingest import _worker_limits, ingest_workers
    from wow_metrics.pipeline import reference_beside_ingest

    chosen = ingest_workers(Settings(**settings), extracts)
    assert chosen == workers
    assert _worker_limits(Settings(**settings), chosen) == limits
    # The reference staging runs beside two or more workers only, on one thread and one share:
    # the connections open at once hold no more memory than the run was given.
    staging = reference_beside_ingest(Settings(**settings), extracts)
    if workers < 2:
        assert staging is None
        return
    assert staging is not None and staging.threads == 1
    assert staging.memory_limit == limits[0]
    if limits[0] is not None:
        assert (workers + 1) * memory_limit_bytes(limits[0]) <= memory_limit_bytes(
            settings["memory_limit"])
