"""Ingest new audit extracts from the landing zone into the Parquet lake (SPEC 1, 7, 9)."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from wow_metrics.config import Settings
from wow_metrics.ingest.formats import ExtractFormat, registry
from wow_metrics.ingest.rawcsv import UnreadableFile, load_csv, load_parquet, read_header
from wow_metrics.lake import BUCKET_SQL, LIVE_STATUSES, Lake, atomic_write_parquet
from wow_metrics.pseudonym import hmac_pads, key_fingerprint
from wow_metrics.sqlfiles import install_macros, read_sql

log = logging.getLogger(__name__)

EXTRACT_SUFFIXES = (".csv", ".csv.gz", ".parquet")
NOT_BEFORE = dt.datetime(1990, 1, 1, tzinfo=dt.UTC)
QUARANTINE_SCHEMA = pa.schema([
    ("source_file", pa.string()),
    ("source_line", pa.int64()),
    ("reason", pa.string()),
    ("clinician_id", pa.string()),
])


class LakeMismatch(RuntimeError):
    """The lake was built with settings or a key that this run does not share."""


@dataclass(frozen=True)
class SourceFile:
    """An extract in the landing zone."""

    path: Path
    relative: str
    format: ExtractFormat | None  # None: not readable as any known format
    problem: str | None = None    # why it cannot be read, when format is None

    @property
    def format_name(self) -> str:
        return self.format.name if self.format else self.relative.split("/")[1]


@dataclass
class IngestReport:
    """What one ingest pass did."""

    files_seen: int = 0
    files_ingested: int = 0
    files_quarantined: int = 0
    files_skipped: int = 0
    rows_read: int = 0
    rows_written: int = 0
    rows_quarantined: int = 0
    messages: list[str] = field(default_factory=list)


def discover(landing: Path) -> list[SourceFile]:
    """Every extract under <landing>/audit/<format>/, in relative-path (code-point) order."""
    formats = registry()
    audit = landing / "audit"
    found: list[SourceFile] = []
    if not audit.is_dir():
        return found
    # Nothing under audit/ is passed over in silence: a file of an unknown format or type is
    # recorded and quarantined whole. Hidden files (editor and transfer leftovers) are ignored.
    for fmt_dir in sorted(p for p in audit.iterdir() if p.is_dir()):
        fmt = formats.get(fmt_dir.name)
        for path in fmt_dir.rglob("*"):
            if not path.is_file() or any(part.startswith(".") for part in path.parts[-1:]):
                continue
            relative = path.relative_to(landing).as_posix()
            if fmt is None:
                problem = (f"unknown extract format folder audit/{fmt_dir.name} "
                           f"(known: {', '.join(sorted(formats))})")
                found.append(SourceFile(path, relative, None, problem))
            elif not path.name.lower().endswith(EXTRACT_SUFFIXES):
                problem = f"not an extract file type (expected {', '.join(EXTRACT_SUFFIXES)})"
                found.append(SourceFile(path, relative, None, problem))
            else:
                found.append(SourceFile(path, relative, fmt))
    return sorted(found, key=lambda s: s.relative)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _connect():
    import duckdb

    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    install_macros(con)
    return con


@dataclass
class PendingFile:
    """An extract version the lake has not seen, to be ingested (picklable, for remote workers)."""

    relative: str
    path: str
    format_name: str
    sha: str
    size_bytes: int
    mtime_ns: int
    problem: str | None = None
    note: str | None = None


@dataclass
class IngestPlan:
    """What an ingest pass will do, decided before any file is read."""

    manifest: list[dict]
    pending: list[PendingFile]
    orphaned: set[str]
    report: IngestReport
    run_id: str
    now: dt.datetime
    fingerprint: str
    default_timezone: str


def plan_ingest(landing: Path, lake: Lake, settings: Settings, key: bytes, run_id: str,
                now: dt.datetime | None = None) -> IngestPlan:
    """Decide, for every extract in the landing zone, whether it is new, changed, or a duplicate."""
    now = now or dt.datetime.now(dt.UTC)
    fingerprint = key_fingerprint(key)
    manifest = lake.load_manifest()
    _check_lake_compatible(manifest, settings, fingerprint)
    report = IngestReport()
    sources = discover(landing)
    report.files_seen = len(sources)
    plan = IngestPlan(manifest, [], set(), report, run_id, now, fingerprint,
                      settings.default_timezone)

    by_stat = {(r["file_path"], r["size_bytes"], r["mtime_ns"]): r["content_sha256"] for r in manifest}
    # A path is up to date when its latest recorded content is what it holds now (a file changed
    # back to an earlier content is new again).
    latest_sha = {r["file_path"]: r["content_sha256"] for r in manifest}
    live = {r["content_sha256"]: r["file_path"] for r in manifest if r["status"] in LIVE_STATUSES}
    for src in sources:
        stat = src.path.stat()
        sha = by_stat.get((src.relative, stat.st_size, stat.st_mtime_ns)) or file_sha256(src.path)
        if latest_sha.get(src.relative) == sha:
            report.files_skipped += 1
            continue
        latest_sha[src.relative] = sha
        # This path now delivers other content: its earlier live version is replaced.
        for old in manifest:
            if old["file_path"] == src.relative and old["status"] in LIVE_STATUSES:
                old["status"] = "superseded"
                old["message"] = f"replaced by a changed file with the same name ({sha[:12]})"
                live.pop(old["content_sha256"], None)
                report.messages.append(f"{src.relative}: changed since last ingest; "
                                       "the new version replaces the old one")
        pending = PendingFile(src.relative, str(src.path), src.format_name, sha, stat.st_size,
                              stat.st_mtime_ns, src.problem)
        if sha in live:
            message = f"{src.relative}: same content as {live[sha]}; not ingested again"
            log.warning(message)
            report.messages.append(message)
            manifest.append({**_manifest_base(plan, pending), "status": "duplicate_content",
                             "message": message})
            report.files_skipped += 1
        else:
            plan.pending.append(pending)
            live[sha] = src.relative

    # Content whose only live copy was replaced is re-ingested from the first path that still
    # delivers it (a twin recorded as duplicate_content); otherwise its data is dropped.
    present = {s.relative: s for s in sources}
    latest = {r["file_path"]: r for r in manifest}
    for row in sorted(latest.values(), key=lambda r: r["file_path"]):
        src = present.get(row["file_path"])
        if row["status"] != "duplicate_content" or row["content_sha256"] in live or src is None:
            continue
        manifest.remove(row)
        plan.pending.append(PendingFile(
            src.relative, str(src.path), src.format_name, row["content_sha256"], row["size_bytes"],
            row["mtime_ns"], src.problem,
            note="re-ingested: the file whose content it duplicated was replaced"))
        live[row["content_sha256"]] = src.relative
        report.files_skipped -= 1
    plan.orphaned = {r["content_sha256"] for r in manifest if r["status"] == "superseded"} - set(live)
    return plan


def _manifest_base(plan: IngestPlan, pending: PendingFile) -> dict:
    return {
        "file_path": pending.relative, "format": pending.format_name,
        "content_sha256": pending.sha, "size_bytes": pending.size_bytes,
        "mtime_ns": pending.mtime_ns, "run_id": plan.run_id, "ingested_at": plan.now,
        "default_timezone": plan.default_timezone, "key_fingerprint": plan.fingerprint,
        "rows_read": None, "rows_quarantined": None, "rows_written": None, "message": None,
    }


_local = threading.local()


def _thread_connection():
    """An in-memory DuckDB connection per thread, reused across the extracts it ingests."""
    if getattr(_local, "con", None) is None:
        _local.con = _connect()
    return _local.con


def ingest_pending(pending: PendingFile, lake: Lake, settings: Settings, key: bytes,
                   now: dt.datetime, con=None) -> dict:
    """Read one extract into the lake; return its ingest figures. Touches no shared state."""
    con = con or _thread_connection()
    fmt = registry().get(pending.format_name) if pending.problem is None else None
    src = SourceFile(Path(pending.path), pending.relative, fmt, pending.problem)
    return _ingest_one(con, src, pending.sha, lake, settings, key, now)


def record_ingest(lake: Lake, plan: IngestPlan, results: list[dict]) -> IngestReport:
    """Write the manifest for a plan whose pending files were ingested, in plan order."""
    report = plan.report
    for pending, row in zip(plan.pending, results, strict=True):
        entry = {**_manifest_base(plan, pending), **row}
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
    for sha in plan.orphaned:
        lake.remove_content(sha)
    return report


def _check_lake_compatible(manifest: list[dict], settings: Settings, fingerprint: str) -> None:
    live = [r for r in manifest if r["status"] in LIVE_STATUSES]
    zones = {r["default_timezone"] for r in live}
    keys = {r["key_fingerprint"] for r in live}
    if zones and zones != {settings.default_timezone}:
        raise LakeMismatch(
            f"the lake was ingested with default_timezone {sorted(zones)} but wow.yaml now says "
            f"{settings.default_timezone!r}: naive times would be read differently. "
            "Re-run with --full-refresh to re-ingest everything under the new setting."
        )
    if keys and keys != {fingerprint}:
        raise LakeMismatch(
            "the lake was pseudonymised with a different WOW_PSEUDONYM_KEY than this run's: "
            "patient keys would not match. Use the original key, or --full-refresh to re-ingest."
        )


def _quarantine_whole_file(lake: Lake, sha: str, src: SourceFile, reason: str) -> dict:
    message = f"{src.relative}: file quarantined: {reason}"
    log.error(message)
    table = pa.Table.from_pylist(
        [{"source_file": src.relative, "source_line": None, "reason": f"file quarantined: {reason}",
          "clinician_id": None}], schema=QUARANTINE_SCHEMA)
    atomic_write_parquet(table, lake.quarantine_path(sha))
    return {"status": "quarantined", "rows_read": 0, "rows_quarantined": 0, "rows_written": 0,
            "message": message}


def _ingest_one(con, src: SourceFile, sha: str, lake: Lake, settings: Settings, key: bytes,
                now: dt.datetime) -> dict:
    fmt = src.format
    if fmt is None:
        return _quarantine_whole_file(lake, sha, src, src.problem or "unreadable")
    try:
        if src.path.name.lower().endswith(".parquet"):
            raw = load_parquet(con, src.path, "raw_events", fmt.columns)
            header = [fmt.normalise_header(c) for c in raw.columns]
            problem = fmt.header_problem(header)
            if problem:
                raise UnreadableFile(problem)
        else:
            header = [fmt.normalise_header(c) for c in read_header(src.path)]
            problem = fmt.header_problem(header)
            if problem:
                raise UnreadableFile(problem)
            raw = load_csv(con, src.path, "raw_events", header, fmt.columns)
    except UnreadableFile as exc:
        # Readers name the absolute path; published tables name the file as the landing zone does.
        return _quarantine_whole_file(lake, sha, src, str(exc).replace(str(src.path), src.relative))

    ipad, opad = hmac_pads(key)
    con.execute("create or replace temp table pseudonym_pads (ipad BLOB, opad BLOB)")
    con.execute("insert into pseudonym_pads values ($i, $o)", {"i": ipad, "o": opad})
    con.execute(
        "create or replace temp table parsed as " + read_sql(fmt.sql),
        {"default_timezone": settings.default_timezone,
         "not_after": now + dt.timedelta(days=1), "not_before": NOT_BEFORE},
    )
    con.execute("drop table pseudonym_pads; drop table raw_events")

    # Events land in one file per clinician bucket, sorted by clinician and time, written to a
    # scratch folder first and moved into place only once complete.
    scratch = lake.root / "events" / f".tmp-{sha}-{os.getpid()}"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    con.execute(
        f"""
        copy (
            select $source_file as source_file, source_line, $format as format, clinician_id,
                   event_at, action, report_name, category_raw, patient_key, workstation_id,
                   metric_id, process_id, csn_key, is_time_ambiguous, {BUCKET_SQL} as bucket
            from parsed where reject_reason is null
            order by bucket, clinician_id, event_at, source_line
        ) to '{scratch}' (format parquet, compression zstd, partition_by (bucket),
                          filename_pattern 'part_{{i}}', write_partition_columns true)
        """,
        {"source_file": src.relative, "format": fmt.name},
    )
    for part in sorted(scratch.glob("bucket=*/*.parquet")):
        bucket = int(part.parent.name.split("=")[1])
        target = lake.events_path(sha, bucket)
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(part, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(part, target)
    shutil.rmtree(scratch, ignore_errors=True)
    extents_tmp = lake.extents_path(sha).with_name(f".{sha}.tmp-{os.getpid()}")
    extents_tmp.parent.mkdir(parents=True, exist_ok=True)
    con.execute(
        f"""
        copy (
            select clinician_id, {BUCKET_SQL} as bucket,
                   cast(timezone('UTC', event_at) as DATE) as event_date_utc, count(*) as events
            from parsed where reject_reason is null
            group by all order by all
        ) to '{extents_tmp}' (format parquet)
        """
    )
    os.replace(extents_tmp, lake.extents_path(sha))

    rows_written = con.execute("select count(*) from parsed where reject_reason is null").fetchone()[0]
    rejected = con.execute(
        "select source_line, reject_reason, clinician_id from parsed "
        "where reject_reason is not null order by source_line"
    ).fetchall()
    quarantine = [{"source_file": src.relative, "source_line": line, "reason": reason,
                   "clinician_id": None} for line, reason in raw.rejects]
    quarantine += [{"source_file": src.relative, "source_line": line, "reason": reason,
                    "clinician_id": clinician} for line, reason, clinician in rejected]
    quarantine.sort(key=lambda q: q["source_line"])
    con.execute("drop table parsed")
    if quarantine:
        atomic_write_parquet(pa.Table.from_pylist(quarantine, schema=QUARANTINE_SCHEMA),
                             lake.quarantine_path(sha))
    else:
        lake.quarantine_path(sha).unlink(missing_ok=True)
        for q in quarantine[:5]:
            log.warning("%s line %s: %s", q["source_file"], q["source_line"], q["reason"])
        if len(quarantine) > 5:
            log.warning("%s: %d more rows quarantined", src.relative, len(quarantine) - 5)
    return {"status": "ingested", "rows_read": raw.rows_read, "rows_quarantined": len(quarantine),
            "rows_written": rows_written,
            "message": (f"{len(quarantine)} row(s) quarantined" if quarantine else None)}
