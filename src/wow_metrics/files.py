"""Crash-safe file moves: readers and the next run see the old or the new contents, never a mix."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from wow_metrics.progress import mark

# Side files a writer leaves only if it is killed mid-way (names relative to the warehouse).
# The next run, holding the writer lock, removes them; none is ever read as data.
LEFTOVER_PATTERNS = (
    ".wow.duckdb.publishing-*",   # a publication being written (warehouse.publish)
    ".wow.*duckdb.copying-*",     # a copy for wow.previous.duckdb or a rollback (fresh_copy)
    ".state-*",                   # incremental state being written or moved aside
    ".exports-*",                 # leadership exports being written or moved aside
    "informatics/.exports-*",     # clinician-level exports being written or moved aside
    "dashboard/.index.html.*.tmp",
    "lake/.manifest.parquet.tmp-*",
    "lake/quarantine/.*.tmp-*",
    "docs.building",              # validation data docs being written (gx_suites)
    ".docs-old-*",
)


def fsync_dir(path: Path) -> None:
    """Make a folder's entries (a rename into it) durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def durable_replace(written: Path, final: Path) -> None:
    """Move a fully written file to `final` so that after a crash `final` is the old file or
    the whole new one: the data reaches the disk before the name does."""
    with open(written, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(written, final)
    fsync_dir(final.parent)


def fresh_copy(source: Path, final: Path) -> Path:
    """Write a copy of `source` beside `final` (a new file, never a hard link), fsynced; return
    it, to be moved into place with os.replace.

    A new inode is what keeps a connection that holds `source` open (a DuckDB client opened
    read-write, against the advice) from writing into whatever name the copy gets.
    """
    tmp = final.with_name(f".{final.name}.copying-{os.getpid()}")
    tmp.unlink(missing_ok=True)
    try:
        shutil.copyfile(source, tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)  # a full disk leaves no half copy behind
        raise
    return tmp


def replace_dir(staging: Path, final: Path) -> None:
    """Make the fully written `staging` folder `final`, moving any old `final` aside first.

    A crash between the two moves leaves `final` absent (never half-written): whoever reads
    it next treats it as missing and rebuilds it.
    """
    old = final.with_name(f".{final.name}-old-{os.getpid()}")
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        os.replace(final, old)
        mark(f"{final.name}.old_moved_aside")
    os.replace(staging, final)
    fsync_dir(final.parent)
    shutil.rmtree(old, ignore_errors=True)


def remove_leftovers(warehouse: Path) -> list[Path]:
    """Delete the side files of writers that were killed (call with the writer lock held)."""
    removed = []
    for pattern in LEFTOVER_PATTERNS:
        for path in warehouse.glob(pattern):
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            removed.append(path)
    return removed
