"""What every reader of an extract shares: its path as DuckDB takes it literally, its first
line, and what makes a file unreadable (UnreadableFile) or a fault of the machine's."""

from __future__ import annotations

import gzip
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from wow_metrics.faults import resource_error


def literal_path(path: Path | str) -> str:
    """A file's path as DuckDB's readers take it literally: they expand `*`, `?` and `[...]` as
    a pattern, so an extract named `log[1].csv` would read `log1.csv` instead. Each of those
    characters becomes a class that matches only itself."""
    return "".join(f"[{c}]" if c in "*?[]" else c for c in str(path))


class UnreadableFile(Exception):
    """The file cannot be read as data at all; it is quarantined whole."""


@dataclass
class RawRead:
    """What the reader made of one file."""

    rows_read: int = 0
    rejects: list[tuple[int, str]] = field(default_factory=list)  # (physical line, reason)


def is_resource_fault(exc: BaseException) -> bool:
    """Whether exc is the machine's fault (memory, disk, permissions), never the file's."""
    import duckdb

    return (isinstance(exc, duckdb.OutOfMemoryException | MemoryError)
            or "out of memory" in str(exc).lower()
            or resource_error(exc, Path(".")) is not None)


def open_bytes(path: Path):
    return gzip.open(path, "rb") if path.name.lower().endswith(".gz") else open(path, "rb")


def first_line(path: Path, encoding: str = "utf-8") -> tuple[str, str]:
    """The file's first line as text (BOM removed) and the line end it has ('\\n', '\\r\\n',
    '\\r', or '' for a file of one line); raise UnreadableFile with why."""
    try:
        with open_bytes(path) as fh:
            head = fh.read(1 << 20)
    except (OSError, EOFError, zlib.error) as exc:
        if path.name.lower().endswith(".gz"):
            raise UnreadableFile(f"truncated or corrupt gzip file: {exc}") from None
        raise UnreadableFile(f"cannot read file: {exc}") from None
    if not head.strip():
        raise UnreadableFile("empty file: no header line")
    if encoding == "utf-16":
        try:
            text = head[: len(head) - len(head) % 2].decode("utf-16")
        except UnicodeDecodeError:
            raise UnreadableFile("header line is not UTF-16 text") from None
    else:
        if b"\x00" in _until_line_end(head):
            raise UnreadableFile("not a CSV file (binary content in the header line)")
        try:
            text = _until_line_end(head).decode("utf-8-sig" if encoding == "utf-8" else encoding)
        except UnicodeDecodeError:
            raise UnreadableFile(f"header line is not {encoding} text") from None
        # The line end, from the bytes after the line (a first line longer than the head has none).
        rest = head[len(_until_line_end(head)):]
        text += rest[:2].decode("latin-1")
    text = text.lstrip("\ufeff")
    line = _until_line_end(text)
    after = text[len(line):]
    end = "\r\n" if after.startswith("\r\n") else after[:1]
    if "\x00" in line:
        raise UnreadableFile("not a CSV file (binary content in the header line)")
    if not line.strip():
        raise UnreadableFile("empty header line")
    return line, end


def _until_line_end(data):
    """data up to its first line end (LF, CR LF or a lone CR, as a universal-newline reader)."""
    lf, cr = ("\n", "\r") if isinstance(data, str) else (b"\n", b"\r")
    cut = min((i for i in (data.find(lf), data.find(cr)) if i >= 0), default=len(data))
    return data[:cut]


def read_first_line(path: Path, encoding: str = "utf-8") -> str:
    """The file's first line as text (BOM and line end removed); raise UnreadableFile with why."""
    return first_line(path, encoding)[0]


def read_header(path: Path) -> list[str]:
    """Return a comma-separated header's column names, stripped (reference files)."""
    return [c.strip().strip('"').strip() for c in read_first_line(path).split(",")]
