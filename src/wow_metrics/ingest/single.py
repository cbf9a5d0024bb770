"""The file-at-a-time ingest: one extract read into the lake, checked against what was planned
(a file that changed is left for the next run), never stopping the run (a file that cannot be
read is quarantined whole with the reason)."""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import shutil
import threading
from pathlib import Path

import duckdb

from wow_metrics.config import Settings
from wow_metrics.faults import ResourceError
from wow_metrics.ingest.discovery import SourceFile
from wow_metrics.ingest.formats import ROLES, ExtractFormat
from wow_metrics.ingest.keys import PSEUDONYMISED
from wow_metrics.ingest.plan import PendingFile
from wow_metrics.ingest.rawcsv import parquet_columns, stream_csv, stream_parquet
from wow_metrics.ingest.records import quarantine_whole_file
from wow_metrics.ingest.stream import write_lake_files
from wow_metrics.ingest.textfile import RawRead, UnreadableFile, is_resource_fault, read_first_line
from wow_metrics.ingest.workers import thread_connection, worker_limits
from wow_metrics.lake import Lake
from wow_metrics.progress import mark
from wow_metrics.pseudonym import hmac_pads

log = logging.getLogger(__name__)


class IngestMemoryError(ResourceError):
    """An extract could not be read within the memory DuckDB may use (a setting, not bad data)."""


def ingest_pending(pending: PendingFile, lake: Lake, settings: Settings, key: bytes,
                   now: dt.datetime, con=None, workers: int = 1) -> dict:
    """Read one extract into the lake; return its ingest figures. Touches no shared state.

    `workers`: how many extracts are being read at once in this process (they share the
    run's threads and memory_limit)."""
    con = con or thread_connection(*worker_limits(settings, workers))
    fmt = pending.fmt if pending.problem is None else None
    src = SourceFile(Path(pending.path), pending.relative, fmt, pending.problem)
    return _ingest_one(con, src, pending.sha, lake, settings, key, now, workers,
                       planned=pending.planned_stat)


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
    before = file_stat(src.path)
    if planned is not None and not same_file(planned, before):
        return deferred(src, planned, before, "since this run planned to read it")
    scratch = lake.root / "scratch" / f"{sha}-{os.getpid()}-{threading.get_ident()}"
    shutil.rmtree(scratch, ignore_errors=True)
    (scratch / "spill").mkdir(parents=True)
    con.execute("set temp_directory = $d", {"d": str(scratch / "spill")})
    # Record numbers (row_number() over ()) follow the file's order only while DuckDB keeps it.
    con.execute("set preserve_insertion_order = true")

    def unchanged() -> dict | None:
        """None while the file is as it was when reading began; else the deferred result."""
        after = file_stat(src.path)
        return None if after == before else deferred(src, before, after, "while this run read it")

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
        return quarantine_whole_file(
            lake, sha, src, f"unexpected error while reading it ({type(exc).__name__}: {first})")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def same_file(planned: tuple[int, ...], now: tuple[int, ...] | None) -> bool:
    """Whether a stat is the planned one (ctime, inode and device only where they were known)."""
    return now is not None and all(p == n for i, (p, n) in enumerate(zip(planned, now, strict=True))
                                   if i < 2 or p)


def file_stat(path: Path) -> tuple[int, int, int, int, int] | None:
    """(size, mtime_ns, ctime_ns, inode, device) of the file a path leads to; None when gone."""
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)


def deferred(src: SourceFile, was, now, when: str) -> dict:
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
    """Read the file's rows to scratch, then write its lake files (stream.py); `unchanged()`
    says whether the file changed meanwhile (then nothing of it is recorded)."""
    fmt = src.format
    assert fmt is not None
    raw_path = scratch / "raw.parquet"
    try:
        header, raw = _read_raw(con, src, fmt, key, raw_path)
    except UnreadableFile as exc:
        # A file still being written may look unreadable (a gzip not yet complete).
        changed = unchanged()
        if changed is not None:
            return changed
        # Readers name the absolute path; published tables name the file as the landing zone does.
        return quarantine_whole_file(lake, sha, src, str(exc).replace(str(src.path), src.relative))

    mark("ingest.raw_read")
    # Every byte of the file has been read (nothing below opens it): a file that changed while
    # it was read is not recorded, before anything of it reaches the lake.
    changed = unchanged()
    if changed is not None:
        return changed
    return write_lake_files(con, src, sha, header, raw, raw_path, lake, settings, now, scratch)


def _read_raw(con, src: SourceFile, fmt: ExtractFormat, key: bytes,
              raw_path: Path) -> tuple[list[str], RawRead]:
    """Read the file's rows into `raw_path` (its identifiers as keys); return its header and
    what the reader made of it. Raise UnreadableFile when it cannot be read as data."""
    roles, times = fmt.role_columns, fmt.time_columns
    read_roles: dict[str, str | None] = {
        **{r: roles.get(r) for r in ROLES},
        "time_1": times[0], "time_2": times[1] if len(times) > 1 else None}
    pads = hmac_pads(key)
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
    return header, raw
