"""Crash-safe file moves (readers and the next run see the old or the new contents, never a mix)
and the modes of what a run writes (owner-only, or group-readable by setting)."""

from __future__ import annotations

import logging
import os
import shutil
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from wow_metrics.progress import mark

log = logging.getLogger(__name__)

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


# File modes (wow.yaml `file_mode`): what a run creates is the service account's alone
# ("owner"), or also readable by the warehouse folder's group ("group"): the informatics
# analysts and whoever hands the exports and dashboard on. Only the entries readers are meant
# to open are ever opened to the group; the lake (pseudonymised patient keys), the incremental
# state, build scratch and the lock stay the owner's in both modes.
FILE_MODES = ("owner", "group")
_UMASK = {"owner": 0o077, "group": 0o027}
_READER_MODES = {"owner": (0o600, 0o700), "group": (0o640, 0o750)}  # (file, folder)
_PRIVATE_MODES = (0o600, 0o700)
READER_ENTRIES = ("wow.duckdb", "wow.previous.duckdb", "exports", "informatics", "dashboard",
                  "docs")


@contextmanager
def file_mode_umask(mode: str) -> Iterator[None]:
    """Create files owner-only (or group-readable) for the block; the umask is put back after.

    The umask is the process's: every file and folder the block creates, whichever library
    creates it (DuckDB, Arrow, Great Expectations), is born with the right mode."""
    previous = os.umask(_UMASK[mode])
    try:
        yield
    finally:
        os.umask(previous)


def private_dir(path: Path) -> Path:
    """Create a folder only its owner can enter (whatever the umask), or leave it as it is."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def warehouse_file_mode(warehouse: Path) -> str:
    """The file mode a warehouse was last given (by its folder's own mode): for the commands
    that write a warehouse without a wow.yaml to read (`wow export`, `wow rollback`)."""
    try:
        bits = stat.S_IMODE(os.stat(warehouse).st_mode)
    except OSError:
        return "owner"
    return "group" if bits & 0o070 and not bits & 0o007 else "owner"


def apply_file_mode(warehouse: Path, mode: str) -> list[str]:
    """Give every file and folder of the warehouse its mode; return what could not be changed.

    Closes what an earlier version (or a process under another umask, such as a Dask worker)
    left readable by others. Symbolic links are never followed; a folder's set-group-ID bit is
    kept (it makes new files take the folder's group)."""
    problems: list[str] = []

    def give(path: Path, want: int, is_dir: bool) -> None:
        try:
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                return
            current = stat.S_IMODE(st.st_mode)
            if is_dir:
                want |= current & stat.S_ISGID
            if current != want:
                os.chmod(path, want)
        except FileNotFoundError:
            pass  # removed meanwhile
        except OSError as exc:
            problems.append(f"{path}: {exc.strerror or exc}")

    reader_file, reader_dir = _READER_MODES[mode]
    if not warehouse.is_dir():
        return problems
    give(warehouse, reader_dir, True)
    for entry in os.scandir(warehouse):
        file_mode, dir_mode = ((reader_file, reader_dir) if entry.name in READER_ENTRIES
                               else _PRIVATE_MODES)
        top = Path(entry.path)
        if entry.is_symlink():
            continue
        if not entry.is_dir():
            give(top, file_mode, False)
            continue
        give(top, dir_mode, True)
        for folder, dirs, files in os.walk(top, followlinks=False):
            for name in dirs:
                give(Path(folder) / name, dir_mode, True)
            for name in files:
                give(Path(folder) / name, file_mode, False)
    return problems


def secure_warehouse(warehouse: Path, mode: str) -> None:
    """Give the warehouse's files their modes (apply_file_mode); warn of any it cannot."""
    problems = apply_file_mode(Path(warehouse), mode)
    if problems:
        log.warning("could not restrict the mode of %d file(s) in %s (e.g. %s): check who owns "
                    "them", len(problems), warehouse, problems[0])
