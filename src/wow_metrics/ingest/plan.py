"""Plan an ingest pass: for every extract of the landing zone, whether it is new, changed, a
duplicate of content the lake holds or unchanged, decided before any file is read."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from wow_metrics.config import Settings
from wow_metrics.ingest.compat import check_lake_compatible, migrate_lake
from wow_metrics.ingest.discovery import SourceFile, discover, file_sha256
from wow_metrics.ingest.formats import ExtractFormat, registry
from wow_metrics.ingest.records import IngestReport, is_unusable, manifest_base
from wow_metrics.lake import LIVE_STATUSES, Lake
from wow_metrics.progress import mark

log = logging.getLogger(__name__)


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


@dataclass
class _History:
    """What the manifest says of the paths it records, as a plan reads it (updated as it goes)."""

    by_stat: dict[tuple[str, int, int], str]
    latest_sha: dict[str, str]
    interrupted: set[str]
    read_with: dict[str, str | None]
    live: dict[str, str]


def plan_ingest(landing: Path, lake: Lake, settings: Settings, key: bytes, run_id: str,
                now: dt.datetime | None = None) -> IngestPlan:
    """Decide, for every extract in the landing zone, whether it is new, changed, or a duplicate."""
    now = now or dt.datetime.now(dt.UTC)
    manifest = lake.load_manifest()
    fingerprint = check_lake_compatible(manifest, settings, key)
    migrate_lake(lake, manifest, settings)
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
    history = _history(manifest)
    stats = {src.relative: _plan_source(plan, src, history) for src in sources}
    _reingest_twins(plan, sources, history.live, stats)
    plan.orphaned = ({r["content_sha256"] for r in manifest if r["status"] == "superseded"}
                     - set(history.live))
    if any(p.sha in live_on_disk for p in plan.pending):
        # Reading content again rewrites its lake files in place: first record that the old
        # reading is no longer live, so a run killed mid-way never leaves the manifest calling
        # half-rewritten files live (the next run reads such a path again, see `interrupted`).
        lake.save_manifest(manifest)
        mark("ingest.superseded_saved")
    return plan


def _history(manifest: list[dict]) -> _History:
    """What the manifest records of each path, before this plan changes any of it."""
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
    return _History(by_stat, latest_sha, interrupted, read_with, live)


def _plan_source(plan: IngestPlan, src: SourceFile, history: _History) -> os.stat_result:
    """Plan one extract: skipped when the lake holds what it holds now, else pending (or a
    duplicate of content another path delivers); return the stat it was planned with."""
    manifest, report = plan.manifest, plan.report
    latest_sha, live = history.latest_sha, history.live
    if src.unread is not None:
        # Never opened (a link not followed, a named pipe): what it is stands for its content.
        st = src.path.lstat()
        sha = hashlib.sha256(f"not read: {src.unread}".encode()).hexdigest()
    else:
        st = src.path.stat()
        sha = history.by_stat.get((src.relative, st.st_size, st.st_mtime_ns)) or file_sha256(src.path)
    fingerprint_now = src.format.fingerprint if src.format else None
    reread = (latest_sha.get(src.relative) == sha and src.relative in history.read_with
              and history.read_with[src.relative] != fingerprint_now)
    if latest_sha.get(src.relative) == sha and not reread and src.relative not in history.interrupted:
        report.files_skipped += 1
        return st
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
        manifest.append({**manifest_base(plan, pending), "status": "duplicate_content",
                         "message": message})
        report.files_skipped += 1
    else:
        plan.pending.append(pending)
        live[sha] = src.relative
    return st


def _reingest_twins(plan: IngestPlan, sources: list[SourceFile], live: dict[str, str],
                    stats: dict[str, os.stat_result]) -> None:
    """Content whose only live copy was replaced is re-ingested from the first path that still
    delivers it (a twin recorded as duplicate_content); otherwise its data is dropped."""
    manifest, report = plan.manifest, plan.report
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


def _stat_fields(st: os.stat_result) -> dict[str, int]:
    return {"ctime_ns": st.st_ctime_ns, "inode": st.st_ino, "device": st.st_dev}
