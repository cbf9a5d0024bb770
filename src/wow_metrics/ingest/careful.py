"""The careful read of a delimited extract the fast read could not take: a census of its
physical lines, and a pipe that feeds DuckDB a converted copy (one kind of line end, lines
with far too many fields left out)."""

from __future__ import annotations

import bisect
import codecs
import contextlib
import errno
import os
import tempfile
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from wow_metrics.ingest.textfile import UnreadableFile, literal_path, open_bytes

# The widest header read; a record may have at most this many fields more than its header.
# DuckDB's cost of a record with too many fields grows with the square of the surplus (a
# record of 100,000 fields took 63 s and 3.2 GB): lines over the bound are never given to it.
MAX_HEADER_COLUMNS = 4096
MAX_EXTRA_FIELDS = 1024
CHUNK_BYTES = 1 << 20



# ---------------------------------------------------------------------------------------------
# The census: a pass over the file's physical lines, for files the fast read could not take
# ---------------------------------------------------------------------------------------------

@dataclass
class Census:
    """The physical lines of a file: how many, which are empty, which are too wide, how they end.

    A line ends at LF, CR LF or a lone CR (a universal-newline reading), wherever it is: inside
    a quoted field too, as an editor counts lines."""

    lines: int = 0                                          # physical lines, header included
    blank: list[int] = field(default_factory=list)          # empty lines
    wide: list[tuple[int, int]] = field(default_factory=list)  # (line, fields) over the bound
    line_ends: set[str] = field(default_factory=set)        # of '\n', '\r\n', '\r'

    @property
    def mixed(self) -> bool:
        """Line ends DuckDB's reader cannot take as they are (it wants one kind per file)."""
        return len(self.line_ends) > 1


def _chunks(path: Path, encoding: str) -> Iterator:
    """The file's content in chunks: bytes, or str for UTF-16 (line ends are then characters)."""
    with open_bytes(path) as fh:
        decoder = codecs.getincrementaldecoder("utf-16")("replace") if encoding == "utf-16" else None
        while True:
            chunk = fh.read(CHUNK_BYTES)
            if decoder is not None:
                text = decoder.decode(chunk, final=not chunk)
                if text:
                    yield text
            elif chunk:
                yield chunk
            if not chunk:
                return


def _universal_lines(chunks: Iterator, ends: set[str] | None = None) -> Iterator:
    """The chunks with every line end made LF; a CR that ends a chunk waits for the next one
    (it may be the first half of CR LF). Records the kinds of line ends seen in `ends`."""
    held = None
    for chunk in chunks:
        cr, lf, crlf = ("\r", "\n", "\r\n") if isinstance(chunk, str) else (b"\r", b"\n", b"\r\n")
        if held:
            chunk = held + chunk
            held = None
        if chunk.endswith(cr):
            held, chunk = cr, chunk[:-1]
        n_cr = chunk.count(cr)
        if n_cr:
            n_crlf = chunk.count(crlf)
            if ends is not None:
                if n_crlf:
                    ends.add("\r\n")
                if n_cr > n_crlf:
                    ends.add("\r")
                if chunk.count(lf) > n_crlf:
                    ends.add("\n")
            chunk = chunk.replace(crlf, lf).replace(cr, lf)
        elif ends is not None and lf in chunk:
            ends.add("\n")
        yield chunk
    if held:  # the file ends with a lone CR
        if ends is not None:
            ends.add("\r")
        yield "\n" if isinstance(held, str) else b"\n"


def census(path: Path, encoding: str, delimiter: str, max_fields: int) -> Census:
    """Count the file's physical lines; note the empty ones and those with more than
    `max_fields` fields (delimiters counted on the line, quoted or not: an upper bound)."""
    result = Census()
    line = 1          # the line the next character belongs to
    tail_len = 0      # characters of that line seen so far
    tail_delims = 0   # ... and its delimiters
    try:
        for chunk in _universal_lines(_chunks(path, encoding), result.line_ends):
            lf = "\n" if isinstance(chunk, str) else b"\n"
            delim = delimiter if isinstance(chunk, str) else delimiter.encode("latin-1")
            parts = chunk.split(lf)
            done = len(parts) - 1     # lines this chunk completes
            if not done:
                tail_len += len(parts[0])
                tail_delims += parts[0].count(delim)
                continue
            lengths = list(map(len, parts[:done]))
            lengths[0] += tail_len
            if 0 in lengths:
                result.blank.extend(line + i for i, n in enumerate(lengths) if n == 0)
            if max(lengths) >= max_fields:  # only a line this long can have that many fields
                for i, n in enumerate(lengths):
                    if n >= max_fields:
                        fields = parts[i].count(delim) + 1 + (tail_delims if i == 0 else 0)
                        if fields > max_fields:
                            result.wide.append((line + i, fields))
            line += done
            tail_len, tail_delims = len(parts[-1]), parts[-1].count(delim)
        if tail_len:  # a last line without a line end
            if tail_delims + 1 > max_fields:
                result.wide.append((line, tail_delims + 1))
            line += 1
    except (OSError, EOFError, zlib.error) as exc:
        if path.name.lower().endswith(".gz"):
            raise UnreadableFile(f"truncated or corrupt gzip file: {exc}") from None
        raise UnreadableFile(f"cannot read file: {exc}") from None
    result.lines = line - 1
    return result


def _fed_chunks(path: Path, encoding: str, drop: list[int]) -> Iterator[bytes]:
    """The file as one kind of line end (LF), decompressed, UTF-16 as UTF-8, with the content
    of the lines in `drop` (sorted) left out: their line ends stay, so every other line keeps
    its number."""
    line = 1  # the line the chunk's first character belongs to
    for chunk in _universal_lines(_chunks(path, encoding)):
        if isinstance(chunk, str):
            chunk = chunk.encode("utf-8", "surrogateescape")
        last = line + chunk.count(b"\n")
        first_dropped = bisect.bisect_left(drop, line)
        if first_dropped < len(drop) and drop[first_dropped] <= last:
            parts = chunk.split(b"\n")
            dropped = set(drop[first_dropped:bisect.bisect_right(drop, last)])
            chunk = b"\n".join(b"" if line + i in dropped else p for i, p in enumerate(parts))
        line = last
        yield chunk


@contextlib.contextmanager
def _fifo(folder: Path, produce: Callable[[], Iterator[bytes]]) -> Iterator[str]:
    """A named pipe that a thread fills with produce()'s chunks while DuckDB reads it: the
    converted content never lands on disk (it holds identifiers in the clear)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"feed-{uuid.uuid4().hex[:12]}.csv"
    os.mkfifo(path, 0o600)
    stop = threading.Event()
    failures: list[BaseException] = []

    def feed() -> None:
        fd = None
        try:
            while fd is None and not stop.is_set():
                try:
                    fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
                except OSError as exc:  # no reader yet
                    if exc.errno != errno.ENXIO:
                        raise
                    time.sleep(0.002)
            if fd is None:
                return
            os.set_blocking(fd, True)
            for chunk in produce():
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd, view):]
        except BrokenPipeError:  # the reader stopped early (an error of its own)
            pass
        except BaseException as exc:  # noqa: BLE001 (re-raised in the reading thread)
            failures.append(exc)
        finally:
            if fd is not None:
                os.close(fd)

    writer = threading.Thread(target=feed, name="wow-feed", daemon=True)
    writer.start()
    try:
        yield str(path)
    finally:
        stop.set()
        writer.join(timeout=30)
        path.unlink(missing_ok=True)
    if failures:
        raise failures[0]


def wide_reason(header_columns: int) -> Callable[[int], str]:
    limit = header_columns + MAX_EXTRA_FIELDS
    return lambda fields: (f"malformed CSV record (too many columns): {fields:,} fields on one "
                           f"line, more than the {limit:,} read (the header's {header_columns:,} "
                           f"and at most {MAX_EXTRA_FIELDS:,} more); not parsed")


@dataclass
class ReadSource:
    """Where DuckDB reads a file from: the file itself, or a pipe fed with a converted copy
    (one kind of line end, over-wide lines left out) when the file needs one."""

    path: Path
    encoding: str
    census: Census | None = None
    folder: Path | None = None   # for the pipe

    @property
    def fed(self) -> bool:
        return self.census is not None and (self.census.mixed or bool(self.census.wide))

    @property
    def read_encoding(self) -> str:
        return "utf-8" if self.fed and self.encoding == "utf-16" else self.encoding

    @contextlib.contextmanager
    def open(self) -> Iterator[str]:
        if not self.fed:
            yield literal_path(self.path)
            return
        assert self.census is not None
        drop = sorted(line for line, _ in self.census.wide)
        folder = self.folder or Path(tempfile.gettempdir())
        with _fifo(folder, lambda: _fed_chunks(self.path, self.encoding, drop)) as fifo:
            yield literal_path(fifo)
