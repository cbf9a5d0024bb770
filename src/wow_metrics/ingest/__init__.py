"""Ingest new audit extracts from the landing zone into the Parquet lake (SPEC 1, 7, 9)."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import re
import shutil
import stat
import threading
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa

from wow_metrics import pseudonym
from wow_metrics.config import Settings, memory_limit_bytes
from wow_metrics.faults import ResourceError
from wow_metrics.files import durable_replace
from wow_metrics.ingest.formats import ROLES, ExtractFormat, Registry, registry
from wow_metrics.ingest.rawcsv import (
    MAX_ID_CHARS,
    MAX_TEXT_CHARS,
    UnreadableFile,
    is_resource_fault,
    parquet_columns,
    read_first_line,
    stream_csv,
    stream_parquet,
)
from wow_metrics.lake import (
    BUCKET_SQL,
    EVENT_COLUMNS,
    EVENTS_PARQUET,
    LAYOUT,
    LIVE_STATUSES,
    Lake,
    atomic_write_parquet,
)
from wow_metrics.progress import mark
from wow_metrics.pseudonym import hmac_pads
from wow_metrics.sqlfiles import install_macros, read_sql
from wow_metrics.warehouse import sql_literal

log = logging.getLogger(__name__)

EXTRACT_SUFFIXES = (".csv", ".csv.gz", ".txt", ".txt.gz", ".parquet")
NOT_BEFORE = dt.datetime(1990, 1, 1, tzinfo=dt.UTC)
# Below this size (uncompressed, estimated) an extract is parsed in memory and written in one
# statement; above it, it is streamed through scratch files bucket by bucket.
SMALL_EXTRACT_BYTES = 32 << 20
# Identifier roles replaced by keyed hashes as the file is first read (SPEC 7): role ->
# (lake column, HMAC domain prefix). The prefix keeps an encounter key from ever equalling the
# patient key of the same digits.
PSEUDONYMISED = {"patient_id": ("patient_key", ""), "encounter_id": ("encounter_key", "encounter:")}
QUARANTINE_SCHEMA = pa.schema([
    ("source_file", pa.string()),
    ("source_line", pa.int64()),
    ("reason", pa.string()),
    ("clinician_id", pa.string()),
])


class IngestMemoryError(ResourceError):
    """An extract could not be read within the memory DuckDB may use (a setting, not bad data)."""


class LakeMismatch(RuntimeError):
    """The lake was built with settings or a key that this run does not share."""


@dataclass(frozen=True)
class SourceFile:
    """An extract in the landing zone."""

    path: Path
    relative: str
    format: ExtractFormat | None  # None: not readable as any known format
    problem: str | None = None    # why it cannot be read, when format is None
    # A path that is never opened (a link not followed, a named pipe): what it is, hashed in
    # place of its content so the manifest can record it.
    unread: str | None = None

    @property
    def format_name(self) -> str:
        if self.format:
            return self.format.name
        parts = self.relative.split("/")
        return parts[1] if len(parts) > 2 else ""


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


def _walk(folder: Path) -> list[Path]:
    """Every entry under folder, in name order, descending into folders but never into links."""
    with os.scandir(folder) as entries:
        ordered = sorted(entries, key=lambda e: e.name)
    found: list[Path] = []
    for entry in ordered:
        if entry.is_dir(follow_symlinks=False):
            found.extend(_walk(Path(entry.path)))
        else:
            found.append(Path(entry.path))
    return found


def _not_followed(path: Path, root: Path) -> str | None:
    """Why a path under audit/ is not read, when it is a link that is not followed or not a
    regular file; None for a regular file or a link to one inside the landing zone."""
    if path.is_symlink():
        target = Path(os.path.realpath(path))
        if not target.exists():
            return f"a symbolic link whose target ({os.readlink(path)}) does not exist"
        if not target.is_relative_to(root):
            return (f"a symbolic link to {target}, outside the landing zone: not followed "
                    "(extracts are read only from inside the landing zone; copy the file in)")
        if target.is_dir():
            return "a symbolic link to a folder: not followed (put the files themselves under audit/)"
        path = target
    mode = path.stat().st_mode
    if not stat.S_ISREG(mode):
        kind = ("a named pipe" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode)
                else "a device" if stat.S_ISBLK(mode) or stat.S_ISCHR(mode) else "not a file")
        return f"{kind}, not a regular file: not read"
    return None


def discover(landing: Path, formats: Registry | None = None) -> list[SourceFile]:
    """Every extract under <landing>/audit/<format>/, in relative-path (code-point) order.

    Nothing under audit/ is passed over in silence: a file of an unknown format or type, a file
    outside a format folder, a symbolic link that is not followed and anything that is not a
    regular file is recorded and quarantined whole (hidden files, editor and transfer
    leftovers, are ignored). A link is followed only to a regular file inside the landing zone
    (its target resolved); one leading outside it, to a folder, or to nothing is not: a run
    never reads what the landing zone does not hold.
    """
    formats = formats if formats is not None else registry(landing)
    audit = landing / "audit"
    found: list[SourceFile] = []
    if not audit.is_dir():
        return found
    root = Path(os.path.realpath(landing))
    if audit.is_symlink() and not Path(os.path.realpath(audit)).is_relative_to(root):
        return [SourceFile(audit, "audit", None,
                           f"audit/ is a symbolic link to {os.path.realpath(audit)}, outside the "
                           "landing zone: not followed", unread=f"link to {os.path.realpath(audit)}")]
    for path in _walk(audit):
        if path.name.startswith("."):
            continue
        relative = path.relative_to(landing).as_posix()
        try:
            skipped = _not_followed(path, root)
        except OSError as exc:
            skipped = f"cannot be examined: {exc.strerror or exc}"
        if skipped is not None:
            target = os.readlink(path) if path.is_symlink() else "special file"
            found.append(SourceFile(path, relative, None, skipped, unread=f"{skipped}: {target}"))
            continue
        depth = len(relative.split("/"))
        fmt_name = relative.split("/")[1]
        fmt = formats.get(fmt_name) if depth > 2 else None
        if depth <= 2:
            problem = ("not in a format folder: extracts go under audit/<format>/ (declared "
                       f"formats: {', '.join(formats.names())})")
            found.append(SourceFile(path, relative, None, problem))
        elif fmt is None and fmt_name in formats.broken:
            problem = f"the declaration of format {fmt_name} is unusable: {formats.broken[fmt_name]}"
            found.append(SourceFile(path, relative, None, problem))
        elif fmt is None:
            problem = (f"unknown extract format folder audit/{fmt_name} "
                       f"(declared formats: {', '.join(formats.names())}; a site declares "
                       f"its own in formats/{fmt_name}.yml)")
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


def _connect(memory_limit: str | None = None, threads: int | None = None):
    import duckdb

    config: dict[str, object] = {}
    if memory_limit:
        config["memory_limit"] = memory_limit
    if threads:
        config["threads"] = threads
    con = duckdb.connect(config=config)
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
    fmt: ExtractFormat | None = None
    # The rest of the file's stat when it was hashed: a file that differs in any of them when
    # it is read has changed since (ctime: any write, even one that puts mtime back).
    ctime_ns: int = 0
    inode: int = 0
    device: int = 0

    @property
    def planned_stat(self) -> tuple[int, int, int, int, int]:
        return (self.size_bytes, self.mtime_ns, self.ctime_ns, self.inode, self.device)

    @property
    def format_fingerprint(self) -> str | None:
        return self.fmt.fingerprint if self.fmt else None


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
    # Live versions this plan supersedes, per path, with their status and message before: a
    # file that changes while it is read is left for the next run and its old version kept.
    replaced: dict[str, list[tuple[dict, str, str | None]]] = field(default_factory=dict)


def plan_ingest(landing: Path, lake: Lake, settings: Settings, key: bytes, run_id: str,
                now: dt.datetime | None = None) -> IngestPlan:
    """Decide, for every extract in the landing zone, whether it is new, changed, or a duplicate."""
    now = now or dt.datetime.now(dt.UTC)
    manifest = lake.load_manifest()
    fingerprint = _check_lake_compatible(manifest, settings, key)
    _migrate_lake(lake, manifest, settings)
    report = IngestReport()
    # Scratch of an ingest that died (one run at a time writes a warehouse) is of no use, nor
    # are lake files it wrote before it could record them in the manifest.
    shutil.rmtree(lake.root / "scratch", ignore_errors=True)
    for stray in lake.remove_unrecorded(manifest):
        log.info("removed %s, written by a run that stopped before recording it", stray)
    live_on_disk = {r["content_sha256"] for r in manifest
                    if r["status"] in LIVE_STATUSES and not is_unusable(r)}
    formats = registry(landing)
    for warning in formats.warnings:
        log.warning(warning)
        report.messages.append(warning)
    sources = discover(landing, formats)
    report.files_seen = len(sources)
    plan = IngestPlan(manifest, [], set(), report, run_id, now, fingerprint,
                      settings.default_timezone)

    by_stat = {(r["file_path"], r["size_bytes"], r["mtime_ns"]): r["content_sha256"] for r in manifest}
    # A path is up to date when its latest recorded content is what it holds now (a file changed
    # back to an earlier content is new again).
    latest_sha = {r["file_path"]: r["content_sha256"] for r in manifest}
    # A path whose latest version is superseded by nothing newer was being read again by a run
    # that stopped before it finished: it is read again now.
    interrupted = {r["file_path"] for r in manifest if r["status"] == "superseded"} - {
        r["file_path"] for r in manifest if r["status"] != "superseded"}
    # A file is read again when the declaration of its format changed since it was read (a
    # site fixing its YAML gets the files it had quarantined back).
    read_with = {r["file_path"]: r.get("format_fingerprint") for r in manifest
                 if r["status"] in LIVE_STATUSES}
    # Content is de-duplicated only among files that can be ingested: a copy in an unknown
    # folder or of another file type is quarantined whole beside the real file, never in its
    # place (an earlier lake where it shadowed one gets the real file back below).
    live = {r["content_sha256"]: r["file_path"] for r in manifest
            if r["status"] in LIVE_STATUSES and not is_unusable(r)}
    stats = {}
    for src in sources:
        if src.unread is not None:
            # Never opened (a link not followed, a named pipe): what it is stands for its content.
            st = src.path.lstat()
            sha = hashlib.sha256(f"not read: {src.unread}".encode()).hexdigest()
        else:
            st = src.path.stat()
            sha = by_stat.get((src.relative, st.st_size, st.st_mtime_ns)) or file_sha256(src.path)
        stats[src.relative] = st
        fingerprint_now = src.format.fingerprint if src.format else None
        reread = (latest_sha.get(src.relative) == sha and src.relative in read_with
                  and read_with[src.relative] != fingerprint_now)
        if latest_sha.get(src.relative) == sha and not reread and src.relative not in interrupted:
            report.files_skipped += 1
            continue
        latest_sha[src.relative] = sha
        # This path now delivers other content (or must be read again): its live version goes.
        for old in manifest:
            if old["file_path"] == src.relative and old["status"] in LIVE_STATUSES:
                plan.replaced.setdefault(src.relative, []).append((old, old["status"],
                                                                   old["message"]))
                old["status"] = "superseded"
                live.pop(old["content_sha256"], None)
                if reread:
                    old["message"] = (f"read again: the declaration of format {src.format_name} "
                                      "changed since this file was read")
                else:
                    old["message"] = f"replaced by a changed file with the same name ({sha[:12]})"
                    report.messages.append(f"{src.relative}: changed since last ingest; "
                                           "the new version replaces the old one")
        pending = PendingFile(src.relative, str(src.path), src.format_name, sha, st.st_size,
                              st.st_mtime_ns, src.problem, fmt=src.format, **_stat_fields(st))
        if src.format is None:
            plan.pending.append(pending)  # quarantined whole; it holds no content of the lake
        elif sha in live:
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
        if (row["status"] != "duplicate_content" or row["content_sha256"] in live or src is None
                or src.format is None):
            continue
        manifest.remove(row)
        st = stats[src.relative]
        plan.pending.append(PendingFile(
            src.relative, str(src.path), src.format_name, row["content_sha256"], st.st_size,
            st.st_mtime_ns, src.problem,
            note="re-ingested: the file whose content it duplicated was replaced", fmt=src.format,
            **_stat_fields(st)))
        live[row["content_sha256"]] = src.relative
        report.files_skipped -= 1
    plan.orphaned = {r["content_sha256"] for r in manifest if r["status"] == "superseded"} - set(live)
    if any(p.sha in live_on_disk for p in plan.pending):
        # Reading content again rewrites its lake files in place: first record that the old
        # reading is no longer live, so a run killed mid-way never leaves the manifest calling
        # half-rewritten files live (the next run reads such a path again, see `interrupted`).
        lake.save_manifest(manifest)
        mark("ingest.superseded_saved")
    return plan


def _migrate_lake(lake: Lake, manifest: list[dict], settings: Settings) -> None:
    """Bring a lake of an older layout to this version's (lake.LAYOUT) in place, saying so."""
    if lake.layout() == LAYOUT:
        return
    con = _connect(settings.memory_limit, settings.threads)
    try:
        rewritten = lake.migrate_events(manifest, con)
    finally:
        con.close()
    if rewritten:
        log.warning("the lake's events files were of layout 1 (before the compact lake of "
                    "issue 23): %d file(s) rewritten in place to layout %d, row for row (patient "
                    "keys shortened to 64 bits; metric_id, process_id and encounter_key, used by "
                    "no metric, dropped); no extract was read again", len(rewritten), LAYOUT)
    mark("ingest.lake_migrated")


def _stat_fields(st: os.stat_result) -> dict[str, int]:
    return {"ctime_ns": st.st_ctime_ns, "inode": st.st_ino, "device": st.st_dev}


def is_unusable(row: dict) -> bool:
    """A manifest row of a file under audit/ that no declared format reads (an unknown folder,
    another file type, a broken declaration): quarantined whole, with nothing in the lake."""
    return row["status"] == "quarantined" and row.get("format_fingerprint") is None


def _manifest_base(plan: IngestPlan, pending: PendingFile) -> dict:
    return {
        "file_path": pending.relative,
        "format": pending.format_name if pending.fmt is not None else None,
        "content_sha256": pending.sha, "size_bytes": pending.size_bytes,
        "mtime_ns": pending.mtime_ns, "run_id": plan.run_id, "ingested_at": plan.now,
        "default_timezone": plan.default_timezone, "key_fingerprint": plan.fingerprint,
        "format_fingerprint": pending.format_fingerprint,
        "rows_read": None, "rows_quarantined": None, "rows_written": None, "message": None,
    }


_local = threading.local()
MAX_INGEST_WORKERS = 4


def ingest_workers(settings: Settings, extracts: int) -> int:
    """How many extracts `wow run` ingests at once: one per core (up to `threads`).

    A nightly extract is too small for DuckDB to spread over the cores (it gives each thread a
    row group of its own), so extracts are read side by side instead. The workers share
    `threads` and `memory_limit` (`_worker_limits`) with the reference staging: together they
    never use more memory than a run was given.
    """
    cores = settings.threads or os.cpu_count() or 1
    workers = max(1, min(cores, extracts, MAX_INGEST_WORKERS))
    if settings.memory_limit and memory_limit_bytes(settings.memory_limit) is None:
        return 1  # a form DuckDB reads but this does not split: one extract at a time
    return workers


def _worker_limits(settings: Settings, workers: int) -> tuple[str | None, int | None]:
    """(memory_limit, threads) of one of `workers` connections reading extracts side by side.

    Two or more workers leave one more share of memory_limit to the reference staging, which
    `wow run` runs beside them (`reference_share`)."""
    if workers <= 1:
        return settings.memory_limit, settings.threads
    threads = max(1, (settings.threads or os.cpu_count() or 1) // workers)
    return reference_share(settings, workers), threads


def reference_share(settings: Settings, workers: int) -> str | None:
    """One of `workers` + 1 equal shares of memory_limit (None when it is unset): each ingest
    worker's and the reference staging's, while `workers` (two or more) extracts are read."""
    if not settings.memory_limit:
        return None
    total = memory_limit_bytes(settings.memory_limit)
    assert total is not None, "ingest_workers gives one worker to a limit it cannot split"
    return f"{total // (workers + 1)}B"


def _thread_connection(memory_limit: str | None, threads: int | None):
    """An in-memory DuckDB connection per thread, reused across the extracts it ingests."""
    if getattr(_local, "con", None) is None or _local.limits != (memory_limit, threads):
        _local.con = _connect(memory_limit, threads)
        _local.limits = (memory_limit, threads)
    return _local.con


def ingest_pending(pending: PendingFile, lake: Lake, settings: Settings, key: bytes,
                   now: dt.datetime, con=None, workers: int = 1) -> dict:
    """Read one extract into the lake; return its ingest figures. Touches no shared state.

    `workers`: how many extracts are being read at once in this process (they share the
    run's threads and memory_limit)."""
    con = con or _thread_connection(*_worker_limits(settings, workers))
    fmt = pending.fmt if pending.problem is None else None
    src = SourceFile(Path(pending.path), pending.relative, fmt, pending.problem)
    return _ingest_one(con, src, pending.sha, lake, settings, key, now, workers,
                       planned=pending.planned_stat)


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
        mark("ingest.manifest_saved")
    live = {r["content_sha256"] for r in plan.manifest if r["status"] in LIVE_STATUSES}
    for sha in sorted(plan.orphaned - live):
        lake.remove_content(sha)
        mark("ingest.orphan_removed")
    return report


def format_parse_params(format_params: dict[str, object], now: dt.datetime,
                        check_values: bool) -> dict[str, object]:
    """The $parameters of sql/ingest/declared_format.sql: a format's (ExtractFormat.sql_params)
    and the plausibility and size bounds every reading shares (an instant after `now` + 1 day
    is in the future)."""
    return {**format_params, "not_after": now + dt.timedelta(days=1), "not_before": NOT_BEFORE,
            "check_values": check_values, "max_id_chars": MAX_ID_CHARS,
            "max_text_chars": MAX_TEXT_CHARS}


def _has_bad_values(con, raw_sql: str) -> bool:
    """Whether any clinician, workstation, metric or process id, action or report name of the
    file is too long or holds a control character: checked on distinct values (few), so that
    clean files skip the row-by-row checks in sql/ingest/declared_format.sql."""
    branches = [
        f"select v, {limit} as max_chars, {str(text).lower()} as allow_breaks "
        f"from (select distinct {column} as v from {raw_sql})"
        for column, limit, text in (
            ("clinician_id", MAX_ID_CHARS, False), ("action", MAX_TEXT_CHARS, True),
            ("report_name", MAX_TEXT_CHARS, True), ("workstation_id", MAX_ID_CHARS, False),
            ("metric_id", MAX_ID_CHARS, False), ("process_id", MAX_ID_CHARS, False))]
    return bool(con.execute(
        f"select count(*) from ({' union all '.join(branches)}) "
        "where wow_value_problem(wow_clean_id(v), max_chars, allow_breaks) is not null"
    ).fetchall()[0][0])


def _check_lake_compatible(manifest: list[dict], settings: Settings, key: bytes) -> str:
    """Refuse a lake read under another default_timezone or pseudonymised with another key;
    return the key check to record for this run's files (the lake's own, or a new one).

    A lake of the old scheme (an unsalted HMAC of the key) is recognised: with the key it was
    built with, every row's old fingerprint is replaced by a salted check (saved with the
    manifest); with any other key the run stops."""
    live = [r for r in manifest if r["status"] in LIVE_STATUSES]
    zones = {r["default_timezone"] for r in live}
    checks = {r["key_fingerprint"] for r in live}
    if zones and zones != {settings.default_timezone}:
        raise LakeMismatch(
            f"the lake was ingested with default_timezone {sorted(zones)} but wow.yaml now says "
            f"{settings.default_timezone!r}: naive times would be read differently. "
            "Re-run with --reingest to read every extract of the landing zone again under the "
            "new setting (it lists, and keeps, extracts already purged from the landing zone)."
        )
    if any(not pseudonym.key_matches(key, check) for check in checks):
        old = any(pseudonym.is_legacy_fingerprint(c) for c in checks)
        raise LakeMismatch(
            "the lake was pseudonymised with a different WOW_PSEUDONYM_KEY than this run's"
            + (" (recorded under the older, unsalted fingerprint scheme)" if old else "")
            + ": patient keys would not match. Use the original key, or --reingest to read "
            "every extract of the landing zone again under the new one.")
    current = [c for c in checks if pseudonym.is_key_check(c)]
    check = current[0] if current else pseudonym.new_key_check(key)
    legacy = [r for r in manifest if pseudonym.is_legacy_fingerprint(r["key_fingerprint"])]
    if legacy:
        log.warning("the lake's record of the pseudonym key used the older, unsalted fingerprint "
                    "scheme (an HMAC of the key, cheap to test guesses against); the key matches, "
                    "and the record is replaced by a salted scrypt check")
        for row in legacy:
            # A row no longer live may have been read under another key: its record is dropped.
            row["key_fingerprint"] = (check if pseudonym.key_matches(key, row["key_fingerprint"])
                                      else None)
    return check


def _quarantine_whole_file(lake: Lake, sha: str, src: SourceFile, reason: str) -> dict:
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


def _ingest_one(con, src: SourceFile, sha: str, lake: Lake, settings: Settings, key: bytes,
                now: dt.datetime, workers: int = 1,
                planned: tuple[int, int, int, int, int] | None = None) -> dict:
    """Stream one extract through Parquet scratch files into the lake (never held whole in memory).

    `planned`: the file's (size, mtime_ns, ctime_ns, inode, device) when its content was hashed.
    A file that differs from it when reading starts, or that changes while it is read, is not
    recorded (status `deferred`): the manifest would describe bytes that were not the ones read.
    No file stops the run: one that cannot be read, for any reason but the machine's own
    (memory, disk, permissions on the warehouse), is quarantined whole with the reason.
    """
    mark("ingest.file_started")
    if src.format is None:
        # Nothing is written to the lake: its files are keyed by content, which a copy of a
        # real extract shares with it. The whole-file row comes from the manifest.
        message = f"{src.relative}: file quarantined: {src.problem or 'unreadable'}"
        log.error(message)
        return {"status": "quarantined", "rows_read": 0, "rows_quarantined": 0, "rows_written": 0,
                "message": message}
    before = _file_stat(src.path)
    if planned is not None and not _same_file(planned, before):
        return _deferred(src, planned, before, "since this run planned to read it")
    scratch = lake.root / "scratch" / f"{sha}-{os.getpid()}-{threading.get_ident()}"
    shutil.rmtree(scratch, ignore_errors=True)
    (scratch / "spill").mkdir(parents=True)
    con.execute("set temp_directory = $d", {"d": str(scratch / "spill")})
    # Record numbers (row_number() over ()) follow the file's order only while DuckDB keeps it.
    con.execute("set preserve_insertion_order = true")

    def unchanged() -> dict | None:
        """None while the file is as it was when reading began; else the deferred result."""
        after = _file_stat(src.path)
        return None if after == before else _deferred(src, before, after, "while this run read it")

    try:
        return _ingest_streamed(con, src, sha, lake, settings, key, now, scratch, unchanged)
    except duckdb.OutOfMemoryException as exc:
        raise IngestMemoryError(
            f"{src.relative}: reading it needs more memory than DuckDB may use "
            f"(memory_limit {settings.memory_limit or 'default'}"
            f"{f', shared by {workers} extracts read at once and the reference staging' if workers > 1 else ''}): "
            f"{str(exc).splitlines()[0]}. "
            "Raise memory_limit in wow.yaml (measured on a 3M-row extract: "
            "160MB is enough with two threads) or lower threads. Nothing of this file was published; the next run reads it again."
        ) from None
    except Exception as exc:  # noqa: BLE001 (one file never stops the run, SPEC 9)
        if is_resource_fault(exc) or isinstance(exc, OSError | duckdb.IOException):
            raise  # the machine's fault (disk, permissions, I/O), not the file's: never recorded
        changed = unchanged()
        if changed is not None:
            return changed
        # The message's first line, without what it quotes: an error may echo a value of the
        # file (a patient id in the wrong column), which no reason or log may show.
        first = (str(exc).replace(str(src.path), src.relative).strip().splitlines()
                 or ["no message"])[0]
        first = re.sub(r"'[^']*'|\"[^\"]*\"", "'...'", first)[:300]
        return _quarantine_whole_file(
            lake, sha, src, f"unexpected error while reading it ({type(exc).__name__}: {first})")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _same_file(planned: tuple[int, ...], now: tuple[int, ...] | None) -> bool:
    """Whether a stat is the planned one (ctime, inode and device only where they were known)."""
    return now is not None and all(p == n for i, (p, n) in enumerate(zip(planned, now, strict=True))
                                   if i < 2 or p)


def _file_stat(path: Path) -> tuple[int, int, int, int, int] | None:
    """(size, mtime_ns, ctime_ns, inode, device) of the file a path leads to; None when gone."""
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)


def _deferred(src: SourceFile, was, now, when: str) -> dict:
    if now is None:
        what = "was removed or became unreadable"
    elif was[3] and was[3:] != now[3:]:
        what = "was replaced by another file"
    elif was[0] != now[0]:
        what = f"changed size ({was[0]:,} -> {now[0]:,} bytes)"
    else:
        what = "was written to"
    message = (f"{src.relative}: not ingested: the file {what} {when} (a delivery still being "
               "written?); nothing of it was recorded, and the next run reads it again")
    return {"status": "deferred", "rows_read": None, "rows_quarantined": None,
            "rows_written": None, "message": message}


def _ingest_streamed(con, src: SourceFile, sha: str, lake: Lake, settings: Settings, key: bytes,
                     now: dt.datetime, scratch: Path, unchanged=lambda: None) -> dict:
    fmt = src.format
    assert fmt is not None
    roles, times = fmt.role_columns, fmt.time_columns
    read_roles: dict[str, str | None] = {
        **{r: roles.get(r) for r in ROLES},
        "time_1": times[0], "time_2": times[1] if len(times) > 1 else None}
    raw_path = scratch / "raw.parquet"
    pads = hmac_pads(key)
    try:
        if src.path.name.lower().endswith(".parquet"):
            header = parquet_columns(con, src.path)
            problem = fmt.header_problem(header)
            if problem:
                raise UnreadableFile(problem)
            raw = stream_parquet(con, src.path, read_roles, raw_path, PSEUDONYMISED, pads)
        else:
            header, delimiter = fmt.split_header(read_first_line(src.path, fmt.encoding))
            problem = fmt.header_problem(header)
            if problem:
                raise UnreadableFile(problem)
            raw = stream_csv(con, src.path, header, delimiter, fmt.quote, fmt.encoding,
                             read_roles, raw_path, PSEUDONYMISED, pads)
    except UnreadableFile as exc:
        # A file still being written may look unreadable (a gzip not yet complete).
        changed = unchanged()
        if changed is not None:
            return changed
        # Readers name the absolute path; published tables name the file as the landing zone does.
        return _quarantine_whole_file(lake, sha, src, str(exc).replace(str(src.path), src.relative))

    mark("ingest.raw_read")
    # Every byte of the file has been read (nothing below opens it): a file that changed while
    # it was read is not recorded, before anything of it reaches the lake.
    changed = unchanged()
    if changed is not None:
        return changed
    raw_sql = f"read_parquet({sql_literal(str(raw_path))})"  # (a view takes no parameters)
    con.execute(f"create or replace temp view raw_events as "
                f"select *, {sql_literal(src.relative)} as source_file from {raw_sql}")
    # From here on rows carry their line numbers: DuckDB need not keep their order, which saves
    # the memory it would spend reordering parallel work.
    con.execute("set preserve_insertion_order = false")
    # md5 once per clinician, not per row (per row it is the slowest expression of the ingest).
    con.execute(f"""create or replace temp table clinician_buckets as
        select clinician_id, {BUCKET_SQL} as bucket
        from (select distinct wow_clean_id(clinician_id) as clinician_id from {raw_sql})
        where clinician_id is not null""")
    # Parsing streams (no step holds the file) into one folder per clinician bucket (-1: rows
    # without a clinician); each bucket's events are then sorted on their own, so the largest
    # sort is about a sixteenth of the file and a file larger than memory_limit goes through.
    params = fmt.sql_params(header, settings.default_timezone)
    # metric_id, process_id and encounter_key are read and checked (a bad one quarantines its
    # row) but not kept: the lake holds what the build and the audit trail need (lake.LAYOUT).
    parse_sql = f"""
        select p.* exclude (metric_id, process_id, encounter_key),
               coalesce(b.bucket, -1) as bucket
        from ({read_sql('ingest/declared_format.sql')}) p
        left join clinician_buckets b using (clinician_id)"""
    parse_params = format_parse_params(params, now, _has_bad_values(con, raw_sql))
    for old in lake.events_paths(sha):
        old.unlink()  # an earlier reading of this content (its format's declaration changed)
    # Events land in one file per clinician bucket, sorted by clinician and time, written to
    # scratch first and moved into place only once complete.
    event_columns = ", ".join({"source_file": "$source_file as source_file",
                               "format": "$format as format"}.get(name, name)
                              for name, _ in EVENT_COLUMNS)
    event_params = {"source_file": src.relative, "format": fmt.name}
    size = src.path.stat().st_size * (8 if src.path.name.lower().endswith(".gz") else 1)
    if size < SMALL_EXTRACT_BYTES:
        # A nightly file of a few clinicians: parse in memory and write every bucket at once
        # (per-bucket statements would cost more than the data).
        con.execute(f"create or replace temp table parsed_rows as {parse_sql}", parse_params)
        parsed = "parsed_rows"
        con.execute(
            f"""copy (
                select {event_columns} from parsed_rows where reject_reason is null
                order by bucket, clinician_id, event_at, source_line
            ) to $events ({EVENTS_PARQUET},
                partition_by (bucket), filename_pattern 'part_{{i}}', write_partition_columns true)""",
            {**event_params, "events": str(scratch / "events")})
        parts = [(int(p.parent.name.split("=")[1]), p)
                 for p in sorted((scratch / "events").glob("bucket=*/*.parquet"))]
    else:
        # A large file streams: parsed rows go to one scratch folder per bucket (-1: rows with
        # no clinician), then each bucket is sorted on its own, so the largest sort is about a
        # sixteenth of the file and a file larger than memory_limit goes through.
        parsed_dir = scratch / "parsed"
        con.execute(f"copy ({parse_sql}) to $parsed "
                    "(format parquet, compression zstd, partition_by (bucket), "
                    "write_partition_columns true)", {**parse_params, "parsed": str(parsed_dir)})
        if not any(parsed_dir.glob("*/*.parquet")):  # a header and no rows
            (parsed_dir / "bucket=-1").mkdir(parents=True)
            con.execute(f"copy ({parse_sql} limit 0) to $empty (format parquet)",
                        {**parse_params, "empty": str(parsed_dir / "bucket=-1" / "empty.parquet")})
        # Read by several statements below, some without parameters: quoted, not bound.
        parsed = (f"read_parquet({sql_literal(str(parsed_dir / '*' / '*.parquet'))}, "
                  "hive_partitioning = false)")
        parts = []
        for bucket in sorted(int(d.name.split("=")[1]) for d in parsed_dir.glob("bucket=*")):
            if bucket < 0:
                continue
            part = scratch / f"bucket-{bucket:02d}.parquet"
            con.execute(
                f"""copy (
                    select {event_columns}
                    from read_parquet($bucket_files, hive_partitioning = false)
                    where reject_reason is null
                    order by clinician_id, event_at, source_line
                ) to $part ({EVENTS_PARQUET})""",
                {**event_params, "part": str(part),
                 "bucket_files": str(parsed_dir / f"bucket={bucket}" / "*.parquet")})
            if con.execute("select count(*) from read_parquet($p)",
                           {"p": str(part)}).fetchall()[0][0]:
                parts.append((bucket, part))  # (a bucket whose rows were all quarantined: none)
    con.execute("drop view raw_events")
    raw_path.unlink()
    mark("ingest.parsed")
    for bucket, part in parts:
        target = lake.events_path(sha, bucket)
        target.parent.mkdir(parents=True, exist_ok=True)
        durable_replace(part, target)
        mark("ingest.bucket_durable")
    extents_tmp = scratch / "extents.parquet"
    con.execute(
        f"""
        copy (
            select clinician_id, bucket, event_date_utc, events
            from (
                select clinician_id, cast(timezone('UTC', event_at) as DATE) as event_date_utc,
                       count(*) as events
                from {parsed} where reject_reason is null
                group by all
            ) join clinician_buckets using (clinician_id)
            order by all
        ) to $extents (format parquet)
        """,
        {"extents": str(extents_tmp)},
    )
    lake.extents_path(sha).parent.mkdir(parents=True, exist_ok=True)
    durable_replace(extents_tmp, lake.extents_path(sha))
    mark("ingest.extents_durable")
    con.execute("drop table clinician_buckets")

    rows_written, rows_rejected = con.execute(
        f"select count(*) filter (where reject_reason is null), "
        f"count(*) filter (where reject_reason is not null) from {parsed}").fetchall()[0]
    con.register("reader_rejects", pa.Table.from_pylist(
        [{"source_line": line, "reason": reason} for line, reason in raw.rejects],
        schema=pa.schema([("source_line", pa.int64()), ("reason", pa.string())])))
    n_quarantined = rows_rejected + len(raw.rejects)
    quarantine_path = lake.quarantine_path(sha)
    if n_quarantined:
        quarantine_tmp = scratch / "quarantine.parquet"
        con.execute(
            f"""
            copy (
                select $source_file as source_file, source_line, reason, clinician_id from (
                    select source_line, reason, null::VARCHAR as clinician_id from reader_rejects
                    union all
                    select source_line, reject_reason, clinician_id from {parsed}
                    where reject_reason is not null
                ) order by source_line
            ) to $quarantine (format parquet)
            """,
            {"source_file": src.relative, "quarantine": str(quarantine_tmp)},
        )
        examples = con.execute(
            "select source_line, reason from read_parquet($q) order by source_line limit 5",
            {"q": str(quarantine_tmp)}).fetchall()
        for line, reason in examples:
            log.warning("%s line %s: %s", src.relative, line, reason)
        if n_quarantined > len(examples):
            log.warning("%s: %d more rows quarantined", src.relative, n_quarantined - len(examples))
        quarantine_path.parent.mkdir(parents=True, exist_ok=True)
        durable_replace(quarantine_tmp, quarantine_path)
        mark("ingest.quarantine_durable")
    else:
        quarantine_path.unlink(missing_ok=True)
    con.unregister("reader_rejects")
    con.execute("drop table if exists parsed_rows")
    return {"status": "ingested", "rows_read": raw.rows_read, "rows_quarantined": n_quarantined,
            "rows_written": rows_written,
            "message": (f"{n_quarantined} row(s) quarantined" if n_quarantined else None)}


# A night's extracts of one format are read in one pass (ingest/batch.py, which uses the
# file-at-a-time reader above for what one pass cannot take): imported last, as it reads this
# module's names.
from wow_metrics.ingest.batch import ingest_batch, plan_batches  # noqa: E402

__all__ = ["IngestPlan", "IngestReport", "PendingFile", "SourceFile", "discover", "ingest_batch",
           "ingest_pending", "ingest_workers", "plan_batches", "plan_ingest", "record_ingest"]
