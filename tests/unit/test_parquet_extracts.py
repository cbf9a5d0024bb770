"""Audit extracts delivered as Parquet are read like CSV ones (SPEC 1: *.parquet)."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq


def test_parquet_canonical_extract_is_ingested_with_row_numbers(landing) -> None:
    path = landing.root / "audit" / "canonical" / "night.parquet"
    path.parent.mkdir(parents=True)
    pq.write_table(pa.table({
        "clinician_id": ["c1", "c1", None, "c1"],
        "event_time": ["2026-03-02T14:00:00Z", "2026-03-02T14:02:00Z", "2026-03-02T14:03:00Z",
                       "2026-03-02T14:03:30Z"],
        "action": ["chart", "chart", "chart", "chart"],
        "category": ["inbox", "notes", None, "notes"],
    }), path)
    pub = landing.run()
    day = pub.day("c1", "2026-03-02")
    assert day["events"] == 3
    assert day["inbox_minutes"] == 2.0 and day["notes_minutes"] == 1.5
    assert pub.query("select source_line, reason from quarantine") == [
        {"source_line": 3, "reason": "missing clinician_id"}]
    manifest = pub.query("select rows_read, rows_loaded, rows_quarantined from ingest_manifest "
                         "where file_path = 'audit/canonical/night.parquet'")
    assert manifest == [{"rows_read": 4, "rows_loaded": 3, "rows_quarantined": 1}]


def test_parquet_missing_required_column_is_quarantined_whole(landing) -> None:
    path = landing.root / "audit" / "canonical" / "bad.parquet"
    path.parent.mkdir(parents=True)
    pq.write_table(pa.table({"clinician_id": ["c1"], "action": ["x"]}), path)
    landing.canonical([{"clinician_id": "c2", "event_time": "2026-03-02T14:00:00Z", "action": "a"}])
    pub = landing.run()
    rows = pub.query("select source_line, reason from quarantine")
    assert len(rows) == 1 and rows[0]["source_line"] is None
    assert "missing required column(s) event_time" in rows[0]["reason"]
    assert pub.day("c2", "2026-03-02")["events"] == 1


def test_unknown_format_folder_and_file_type_are_recorded_not_skipped(landing) -> None:
    (landing.root / "audit" / "meditech").mkdir(parents=True)
    (landing.root / "audit" / "meditech" / "log.csv").write_text("a,b\n1,2\n")
    landing.canonical([{"clinician_id": "c2", "event_time": "2026-03-02T14:00:00Z", "action": "a"}])
    (landing.root / "audit" / "canonical" / "notes.docx").write_text("hello\n")
    pub = landing.run()
    rows = pub.query("select file_path, status, format from ingest_manifest "
                     "where file_kind = 'audit_extract' order by file_path")
    assert rows == [
        {"file_path": "audit/canonical/events.csv", "status": "ingested", "format": "canonical"},
        # no declared format reads them: format NULL (the folder is in the path and the reason)
        {"file_path": "audit/canonical/notes.docx", "status": "quarantined", "format": None},
        {"file_path": "audit/meditech/log.csv", "status": "quarantined", "format": None},
    ]
    reasons = [r["reason"] for r in pub.query("select reason from quarantine order by source_file")]
    assert "not an extract file type" in reasons[0]
    assert "unknown extract format folder audit/meditech" in reasons[1]
