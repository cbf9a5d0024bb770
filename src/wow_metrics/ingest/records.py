"""What an ingest records: the manifest's row per extract version, the report of a pass, and
the quarantine row of a file that is not read at all."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pyarrow as pa

from wow_metrics.ingest.discovery import SourceFile
from wow_metrics.lake import LIVE_STATUSES, Lake, atomic_write_parquet
from wow_metrics.progress import mark

if TYPE_CHECKING:
    from wow_metrics.ingest.plan import IngestPlan, PendingFile

log = logging.getLogger(__name__)

QUARANTINE_SCHEMA = pa.schema([
    ("source_file", pa.string()),
    ("source_line", pa.int64()),
    ("reason", pa.string()),
    ("clinician_id", pa.string()),
])


@dataclass
class IngestReport:
    """What one ingest pass did."""

    files_seen: int = 0
    files_ingested: int = 0
    files_quarantined: int = 0
    files_skipped: int = 0
    files_deferred: int = 0   # changed while this run read them: read again by the next run
    rows_read: int = 0
    rows_written: int = 0
    rows_quarantined: int = 0
    messages: list[str] = field(default_factory=list)


def is_unusable(row: dict) -> bool:
    """A manifest row of a file under audit/ that no declared format reads (an unknown folder,
    another file type, a broken declaration): quarantined whole, with nothing in the lake."""
    return row["status"] == "quarantined" and row.get("format_fingerprint") is None


def manifest_base(plan: IngestPlan, pending: PendingFile) -> dict:
    return {
        "file_path": pending.relative,
        "format": pending.format_name if pending.fmt is not None else None,
        "content_sha256": pending.sha, "size_bytes": pending.size_bytes,
        "mtime_ns": pending.mtime_ns, "run_id": plan.run_id, "ingested_at": plan.now,
        "default_timezone": plan.default_timezone, "key_fingerprint": plan.fingerprint,
        "format_fingerprint": pending.format_fingerprint,
        "rows_read": None, "rows_quarantined": None, "rows_written": None, "message": None,
    }


def record_ingest(lake: Lake, plan: IngestPlan, results: list[dict]) -> IngestReport:
    """Write the manifest for a plan whose pending files were ingested, in plan order."""
    report = plan.report
    taken = {p.sha for p, row in zip(plan.pending, results, strict=True)
             if row["status"] != "deferred"}
    for pending, row in zip(plan.pending, results, strict=True):
        if row["status"] == "deferred":
            # Nothing of it is recorded: the version before it (if any) stays live, unless
            # its content went to another path of this plan.
            for old, status, message in plan.replaced.get(pending.relative, []):
                if old["content_sha256"] not in taken:
                    old["status"], old["message"] = status, message
            report.files_deferred += 1
            report.messages.append(row["message"])
            log.warning(row["message"])
            continue
        entry = {**manifest_base(plan, pending), **row}
        if pending.note:
            entry["message"] = f"{entry['message']}; {pending.note}" if entry["message"] else pending.note
        plan.manifest.append(entry)
        report.rows_read += entry["rows_read"] or 0
        report.rows_written += entry["rows_written"] or 0
        report.rows_quarantined += entry["rows_quarantined"] or 0
        if entry["status"] == "quarantined":
            report.files_quarantined += 1
            report.messages.append(entry["message"])
        else:
            report.files_ingested += 1
    if plan.pending or plan.manifest != lake.load_manifest():
        lake.save_manifest(plan.manifest)
        mark("ingest.manifest_saved")
    live = {r["content_sha256"] for r in plan.manifest if r["status"] in LIVE_STATUSES}
    for sha in sorted(plan.orphaned - live):
        lake.remove_content(sha)
        mark("ingest.orphan_removed")
    return report


def quarantine_whole_file(lake: Lake, sha: str, src: SourceFile, reason: str) -> dict:
    message = f"{src.relative}: file quarantined: {reason}"
    log.error(message)
    for old in lake.events_paths(sha):
        old.unlink()  # rows of an earlier reading of this content, under another declaration
    table = pa.Table.from_pylist(
        [{"source_file": src.relative, "source_line": None, "reason": f"file quarantined: {reason}",
          "clinician_id": None}], schema=QUARANTINE_SCHEMA)
    atomic_write_parquet(table, lake.quarantine_path(sha))
    mark("ingest.file_quarantined")
    return {"status": "quarantined", "rows_read": 0, "rows_quarantined": 0, "rows_written": 0,
            "message": message}
