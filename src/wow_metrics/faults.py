"""Resource faults: a full disk, a folder the run may not write, too little memory.

Each becomes one `ResourceError` whose message says what happened, that the previous
publication is unchanged, and what to do. Nothing else needs cleaning up by hand: every write a
run makes goes to a side file or the lake first (see docs/reliability.md), and the next run,
once the fault is fixed, picks up where this one stopped.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

UNCHANGED = "Nothing was published: the previous publication is unchanged and readers still see it."
# What an OS or DuckDB error amounts to: (errno values, texts DuckDB and Arrow put in their
# messages instead, what the user is told), checked in this order.
_KINDS = (
    ((errno.ENOSPC, errno.EDQUOT), ("No space left on device", "Disk quota exceeded"),
     "the disk holding {warehouse} is full: {detail}. {unchanged} Free space (a run needs room "
     "for new lake files, its scratch and one more copy of wow.duckdb) and run again: it picks "
     "up where this one stopped."),
    ((errno.EFBIG,), ("File too large",),
     "a file under {warehouse} would exceed the largest file this process may write (ulimit "
     "-f): {detail}. {unchanged} Raise the limit and run again: it picks up where this one "
     "stopped."),
    ((errno.EROFS, errno.EACCES, errno.EPERM),
     ("Read-only file system", "Permission denied", "Operation not permitted"),
     "a file under {warehouse} could not be written: {detail}. {unchanged} Give this user "
     "write access to the whole warehouse folder (or mount it read-write) and run again."),
)


class ResourceError(RuntimeError):
    """The machine could not do the run: disk full, warehouse not writable, memory too small."""


def _detail(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def check_writable(warehouse: Path) -> None:
    """Fail at once, before anything is written, if the warehouse folder (or, before it exists,
    the nearest folder it would be made in) is not writable."""
    folder = warehouse
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
    if isinstance(exc, duckdb.OutOfMemoryException | MemoryError):
        return ResourceError(
            f"the run needs more memory than DuckDB may use (memory_limit "
            f"{memory_limit or 'default: 80% of RAM'}): {_detail(exc)}. {UNCHANGED} Raise "
            "memory_limit in wow.yaml (or lower threads) and run again.")
    code, text = getattr(exc, "errno", None), str(exc)
    for codes, texts, message in _KINDS:
        if code in codes or any(t in text for t in texts):
            return ResourceError(message.format(warehouse=warehouse, detail=_detail(exc),
                                                unchanged=UNCHANGED))
    return None


@contextmanager
def resource_errors(warehouse: Path, memory_limit: str | None = None) -> Iterator[None]:
    """Re-raise a resource fault met in the block as its ResourceError; other errors as they are."""
    try:
        yield
    except Exception as exc:
        fault = resource_error(exc, warehouse, memory_limit)
        if fault is None or fault is exc:
            raise
        raise fault from exc
