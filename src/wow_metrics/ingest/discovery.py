"""Find the extracts of the landing zone: every file under audit/<format>/, and for any other
entry there why it is not read."""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from wow_metrics.ingest.formats import ExtractFormat, Registry, registry

EXTRACT_SUFFIXES = (".csv", ".csv.gz", ".txt", ".txt.gz", ".parquet")


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
