"""Resource faults: a full disk, a folder the run may not write, too little memory.

Each becomes one `ResourceError` whose message says what happened, that the previous
publication is unchanged, and what to do. Nothing else needs cleaning up by hand: every write a
run makes goes to a side file or the lake first (see docs/reliability.md), and the next run,
once the fault is fixed, picks up where this one stopped.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)
_NOT_WRITABLE = (errno.EROFS, errno.EACCES, errno.EPERM)
_DISK_FULL_TEXT = ("No space left on device", "Disk quota exceeded")
_NOT_WRITABLE_TEXT = ("Read-only file system", "Permission denied", "Operation not permitted")
UNCHANGED = "Nothing was published: the previous publication is unchanged and readers still see it."


class ResourceError(RuntimeError):
    """The machine could not do the run: disk full, warehouse not writable, memory too small."""


def _detail(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def check_writable(warehouse: Path) -> None:
    """Fail at once, before anything is written, if the warehouse folder is not writable."""
    folder = warehouse if warehouse.exists() else warehouse.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not os.access(folder, os.W_OK):
        raise ResourceError(
            f"the warehouse folder {folder} is not writable (read-only file system or no write "
            "permission); nothing was changed and the published tables in it remain readable. "
            "Mount it read-write or give this user write access, then run again.")


def resource_error(exc: BaseException, warehouse: Path,
                   memory_limit: str | None = None) -> ResourceError | None:
    """The ResourceError `exc` amounts to, or None if it is not a resource fault."""
    import duckdb

    if isinstance(exc, ResourceError):
        return exc
    code = getattr(exc, "errno", None)
    text = str(exc)
    if isinstance(exc, duckdb.OutOfMemoryException) or isinstance(exc, MemoryError):
        return ResourceError(
            f"the run needs more memory than DuckDB may use (memory_limit "
            f"{memory_limit or 'default: 80% of RAM'}): {_detail(exc)}. {UNCHANGED} Raise "
            "memory_limit in wow.yaml (or lower threads) and run again.")
    if code in _DISK_FULL or any(t in text for t in _DISK_FULL_TEXT):
        return ResourceError(
            f"the disk holding {warehouse} is full: {_detail(exc)}. {UNCHANGED} Free space (a "
            "run needs room for new lake files, its scratch and one more copy of wow.duckdb) "
            "and run again: it picks up where this one stopped.")
    if code == errno.EFBIG or "File too large" in text:
        return ResourceError(
            f"a file under {warehouse} would exceed the largest file this process may write "
            f"(ulimit -f): {_detail(exc)}. {UNCHANGED} Raise the limit and run again: it "
            "picks up where this one stopped.")
    if code in _NOT_WRITABLE or any(t in text for t in _NOT_WRITABLE_TEXT):
        return ResourceError(
            f"a file under {warehouse} could not be written: {_detail(exc)}. {UNCHANGED} Give "
            "this user write access to the whole warehouse folder (or mount it read-write) and "
            "run again.")
    return None
