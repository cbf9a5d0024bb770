"""Read one delimited extract into a DuckDB table of VARCHAR columns with physical line numbers."""

from __future__ import annotations

import bisect
import codecs
import contextlib
import errno
import gzip
import os
import tempfile
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from wow_metrics import pseudonym
from wow_metrics.faults import resource_error
from wow_metrics.warehouse import sql_literal

# DuckDB's CSV buffer (per reading thread): small enough that a tight memory_limit still
# leaves room to sort and write, large enough to read at full speed.
CSV_BUFFER_BYTES = 4 << 20
# The widest header read; a record may have at most this many fields more than its header.
# DuckDB's cost of a record with too many fields grows with the square of the surplus (a
# record of 100,000 fields took 63 s and 3.2 GB): lines over the bound are never given to it.
MAX_HEADER_COLUMNS = 4096
MAX_EXTRA_FIELDS = 1024
# DuckDB keeps at most this many characters of a rejected record's text (rejects_line_size_limit).
REJECT_TEXT_CHARS = 10_000
CHUNK_BYTES = 1 << 20


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


def _open_bytes(path: Path):
    return gzip.open(path, "rb") if path.name.lower().endswith(".gz") else open(path, "rb")


def _first_line(path: Path, encoding: str = "utf-8") -> tuple[str, str]:
    """The file's first line as text (BOM removed) and the line end it has ('\\n', '\\r\\n',
    '\\r', or '' for a file of one line); raise UnreadableFile with why."""
    try:
        with _open_bytes(path) as fh:
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
    return _first_line(path, encoding)[0]


def read_header(path: Path) -> list[str]:
    """Return a comma-separated header's column names, stripped (reference files)."""
    return [c.strip().strip('"').strip() for c in read_first_line(path).split(",")]


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
    with _open_bytes(path) as fh:
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


# ---------------------------------------------------------------------------------------------
# Line numbers
# ---------------------------------------------------------------------------------------------

def _newline_count(n_columns: int, newline: str = "\n") -> str:
    """SQL: the embedded line ends of a record of columns c0..c{n-1} (0 for almost every record:
    counted only where one of its fields has one)."""
    if not n_columns:
        return "0"
    nl = "chr(13)" if newline == "\r" else "chr(10)"
    columns = [f"c{i}" for i in range(n_columns)]
    if n_columns <= 256:
        has_newline = " or ".join(f"contains({c}, {nl})" for c in columns)
        count = " + ".join(f"coalesce(length({c}) - length(replace({c}, {nl}, '')), 0)"
                           for c in columns)
        return f"(case when {has_newline} then {count} else 0 end)::INTEGER"
    # A wide header: one expression per column would nest deeper than DuckDB parses.
    text = f"concat({', '.join(columns)})"
    return (f"(case when contains({text}, {nl}) "
            f"then length({text}) - length(replace({text}, {nl}, '')) else 0 end)::INTEGER")


@dataclass
class _Reject:
    unit: int        # DuckDB's line: 1 + the records and empty lines before it
    span: int        # physical lines the record takes
    truncated: bool  # DuckDB kept only part of its text: span is a lower bound
    error_type: str
    reason: str


def _collect_rejects(con) -> list[_Reject]:
    """The records DuckDB's reader rejected, one per record, read from reject_errors (the
    record's text stays in DuckDB: it may hold identifiers)."""
    rows = con.execute(
        f"""
        with errors as (
            select line, error_type, error_message, byte_position,
                   length(csv_line) >= {REJECT_TEXT_CHARS} as truncated,
                   -- the record's text with one kind of line end, less the one that ends
                   -- it and those of the empty lines before it (DuckDB keeps both)
                   trim(replace(replace(csv_line, chr(13) || chr(10), chr(10)), chr(13),
                                chr(10)), chr(10)) as text
            from reject_errors
        )
        select line, arg_min(error_type, byte_position), arg_min(error_message, byte_position),
               max(1 + length(text) - length(replace(text, chr(10), ''))), bool_or(truncated)
        from errors group by line order by line
        """).fetchall()
    con.execute("drop table if exists reject_errors; drop table if exists reject_scans")
    return [_Reject(int(line), int(span or 1), bool(truncated), str(kind),
                    f"malformed CSV record ({str(kind).lower()}): {message}")
            for line, kind, message, span, truncated in rows]


class _Unaccounted(Exception):
    """The reader's records and the file's lines do not add up."""


def _sweep(n_good: int, extras: list[tuple[int, int]], rejects: list[_Reject],
           blanks: list[int]) -> tuple[list[tuple[int, int]], list[tuple[int, _Reject, int]], int]:
    """Walk the file's lines: each good record (numbered 1.. in file order), each rejected one
    and each empty line between records (DuckDB skips it, but counts it in a reject's line)
    takes its place in turn.

    `extras`: (good record, embedded line ends) of the multi-line good records; `blanks`: the
    empty physical lines (unknown without a census). Returns the steps of the good records'
    line offsets ((first good record, offset): its physical line is record + 1 + offset), each
    reject's (physical line, reject, good records before it), and the last line the records
    reach. Sparse: the runs of one-line good records between those events are taken whole.
    """
    inf = float("inf")
    unit, line, good = 1, 1, 0          # the header is line 1 and DuckDB's first unit
    bi = ei = ri = 0
    offset = 0
    steps: list[tuple[int, int]] = []
    placed: list[tuple[int, _Reject, int]] = []

    def skip_blanks_within(last: int) -> None:
        nonlocal bi
        while bi < len(blanks) and blanks[bi] <= last:
            bi += 1

    skip_blanks_within(1)
    while good < n_good or ri < len(rejects):
        next_blank = blanks[bi] if bi < len(blanks) else inf
        if next_blank == line + 1:             # an empty line between records
            unit, line, bi = unit + 1, line + 1, bi + 1
            continue
        if ri < len(rejects) and rejects[ri].unit == unit + 1:
            reject = rejects[ri]
            placed.append((line + 1, reject, good))
            unit, line, ri = unit + 1, line + reject.span, ri + 1
            skip_blanks_within(line)
            continue
        if good >= n_good:
            raise _Unaccounted(f"a rejected record was expected after line {line:,}")
        if line - good - 1 != offset:
            offset = line - good - 1
            steps.append((good + 1, offset))
        if ei < len(extras) and extras[ei][0] == good + 1:
            line += 1 + extras[ei][1]
            unit, good, ei = unit + 1, good + 1, ei + 1
            skip_blanks_within(line)
            continue
        run = min(next_blank - (line + 1),
                  rejects[ri].unit - (unit + 1) if ri < len(rejects) else inf,
                  extras[ei][0] - (good + 1) if ei < len(extras) else inf,
                  n_good - good)
        if run <= 0:
            raise _Unaccounted(f"DuckDB's line numbers disagree with the records at line {line:,}")
        run = int(run)
        unit, line, good = unit + run, line + run, good + run
    return steps, placed, line


def _line_steps(con, records: str, n_good: int, rejects: list[_Reject],
                census: Census | None, wide_reason: Callable[[int], str] | None = None
                ) -> tuple[bool, list[tuple[int, str]]]:
    """Turn DuckDB's record numbers into physical lines.

    `records` holds the good records with `source_line` = record number + 1 and
    `extra_newlines`. Creates temp table _line_steps (start_record, line_offset) for
    LINE_FIX_SQL; returns whether any step exists, and each reject's (physical line, reason),
    lines left out for having too many fields included. With a census every line of the file
    must be accounted for (the header, a record or part of one, or empty), or UnreadableFile
    says how many were not; a rejected record that ran over several lines because a quote was
    never closed makes the file unreadable (the rows it swallowed cannot be told apart).
    """
    extras = [(int(k), int(e)) for k, e in con.execute(
        f"select source_line - 1, extra_newlines from {records} where extra_newlines > 0 "
        "order by source_line").fetchall()]
    dropped = {line for line, _ in census.wide} if census else set()
    blanks = sorted(set(census.blank) | dropped) if census else []
    try:
        steps, placed, last = _sweep(n_good, extras, rejects, blanks)
    except _Unaccounted as exc:
        raise UnreadableFile(f"the reader's records do not add up to the file's lines ({exc})"
                             ) from None
    for line, reject, good_before in placed:
        if reject.error_type.upper() == "UNQUOTED VALUE" and reject.span > 1:
            at_end = good_before == n_good and reject is placed[-1][1]
            where = ("to the end of the file" + (f" (line {census.lines:,})" if census else "")
                     if at_end else f"past line {line + reject.span - 1:,}" if reject.truncated
                     else f"to line {line + reject.span - 1:,}")
            raise UnreadableFile(
                f"unterminated quote: the quoted field opened on line {line:,} is never closed "
                f"properly, so the reader took the lines from there {where} as one record and "
                "the rows in them cannot be told apart; fix the quoting and deliver the file "
                "again")
    if census is not None:
        trailing = sum(1 for b in blanks if b > last)
        if last + trailing != census.lines or any(r.truncated and r.span > 1
                                                  for _, r, _ in placed):
            raise UnreadableFile(
                f"the reader accounted for {last + trailing:,} of the file's {census.lines:,} "
                "lines; the others cannot be read as records")
    con.register("_line_steps_arrow", pa.table({
        "start_record": pa.array([s for s, _ in steps], pa.int64()),
        "line_offset": pa.array([o for _, o in steps], pa.int64())}))
    con.execute("create or replace temp table _line_steps as select * from _line_steps_arrow")
    con.unregister("_line_steps_arrow")
    out = [(line, reject.reason) for line, reject, _ in placed]
    if census is not None and census.wide and wide_reason is not None:
        out = sorted(out + [(line, wide_reason(fields)) for line, fields in census.wide])
    return bool(steps), out


# The physical line of record `r`, joined as `s` to _line_steps (see _line_steps).
LINE_FIX_SQL = ("(r.source_line + coalesce(s.line_offset, 0))::BIGINT",
                "asof left join _line_steps s on r.source_line - 1 >= s.start_record")


# ---------------------------------------------------------------------------------------------
# Readers
# ---------------------------------------------------------------------------------------------

def _csv_error(path: Path, exc: Exception) -> UnreadableFile:
    message = str(exc).splitlines()[0]
    if path.name.lower().endswith(".gz"):
        return UnreadableFile(f"cannot read as gzip-compressed CSV (truncated or corrupt?): {message}")
    return UnreadableFile(f"cannot read as CSV: {message}")


def _wide_reason(header_columns: int) -> Callable[[int], str]:
    limit = header_columns + MAX_EXTRA_FIELDS
    return lambda fields: (f"malformed CSV record (too many columns): {fields:,} fields on one "
                           f"line, more than the {limit:,} read (the header's {header_columns:,} "
                           f"and at most {MAX_EXTRA_FIELDS:,} more); not parsed")


@dataclass
class _Source:
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


def _careful_source(path: Path, encoding: str, delimiter: str, header_columns: int,
                    folder: Path | None) -> _Source:
    """The census of a file the fast read could not take, and how DuckDB is to read it."""
    found = census(path, encoding, delimiter, header_columns + MAX_EXTRA_FIELDS)
    if 1 in {line for line, _ in found.wide}:
        raise UnreadableFile(f"the header line has more than {header_columns:,} fields")
    return _Source(path, encoding, found, folder)


def _reader_sql(strict: bool) -> str:
    return ("read_csv($path, header = true, auto_detect = false, columns = $spec, "
            "delim = $delim, quote = $quote, escape = $quote, encoding = $enc, "
            f"buffer_size = {CSV_BUFFER_BYTES}"
            + (")" if strict else ", store_rejects = true)"))


def load_csv(con, path: Path, table: str, columns: list[str], wanted: list[str]) -> RawRead:
    """Load path into temp table `table` (source_line + `wanted` columns, VARCHAR, absent = NULL).

    `columns` are the header's names in file order; `wanted` the names the format knows, which
    must be spelled as in `columns` where present. For small files (reference files): every
    line is counted (a census), so line numbers are exact even after empty lines. Any problem
    of the file raises UnreadableFile; only the machine's faults (memory, disk) pass through.
    """
    try:
        return _load_csv(con, path, table, columns, wanted)
    except UnreadableFile:
        raise
    except Exception as exc:  # noqa: BLE001 (a file must never stop the run: it is quarantined)
        if is_resource_fault(exc):
            raise
        raise _csv_error(path, exc) from None


def _load_csv(con, path: Path, table: str, columns: list[str], wanted: list[str]) -> RawRead:
    repeated = sorted({w for w in wanted if sum(c.lower() == w.lower() for c in columns) > 1})
    if repeated:
        raise UnreadableFile(f"column(s) {', '.join(repeated)} appear more than once in the "
                             "header (in any case): which one holds the data is ambiguous")
    if len(columns) > MAX_HEADER_COLUMNS:
        raise UnreadableFile(f"the header has {len(columns):,} columns, more than the "
                             f"{MAX_HEADER_COLUMNS:,} read")
    _, newline = _first_line(path)
    source = _careful_source(path, "utf-8", ",", len(columns), None)
    spec = {f"c{i}": "VARCHAR" for i in range(len(columns))}
    con.execute("drop table if exists reject_errors; drop table if exists reject_scans;")
    counted = _newline_count(len(columns), "\n" if source.fed else newline)
    with source.open() as where:
        con.execute(
            f"""
            create or replace temp table _raw_read as
            select row_number() over () + 1 as source_line, {counted} as extra_newlines, *
            from {_reader_sql(strict=False)}
            """,
            {"path": where, "spec": spec, "delim": ",", "quote": '"', "enc": "utf-8"},
        ).fetchall()
    n_good = con.execute("select count(*) from _raw_read").fetchall()[0][0]
    _, rejects = _line_steps(con, "_raw_read", n_good, _collect_rejects(con), source.census,
                             _wide_reason(len(columns)))
    present = {name.lower(): i for i, name in enumerate(columns)}
    select_cols = ", ".join(
        (f'r.c{present[w.lower()]} as "{w}"' if w.lower() in present else f'null::VARCHAR as "{w}"')
        for w in wanted
    )
    line, steps_join = LINE_FIX_SQL
    con.execute(
        f"""
        create or replace temp table {table} as
        select {line} as source_line, {select_cols}
        from _raw_read r {steps_join}
        order by source_line
        """
    )
    con.execute("drop table _raw_read; drop table _line_steps")
    return RawRead(rows_read=n_good + len(rejects), rejects=rejects)


def _pseudonym_keys(con, scan: str, params: dict, sources: dict[str, str],
                    pseudonymise: dict[str, tuple[str, str]], pads: tuple[bytes, bytes],
                    names: dict[str, str] | None = None
                    ) -> tuple[str, dict[str, str], str]:
    """Key each distinct identifier of `scan` once: the first 64 bits of HMAC-SHA256(key,
    domain || trimmed id), as a UBIGINT (pseudonym.patient_key), computed as
    sha256(opad || sha256(ipad || m)) from the key's pads.

    `sources` maps role -> a column of `scan` (NULL when the file lacks it). Creates a temp
    table _keys_<role> (id, key, problem) per identifier role present, and returns the joins
    that attach them to a row `r` of the file, per role the select item of its key column, and
    the select expression of the row's first identifier problem (an id too long or holding a
    control character gets no key: the row is quarantined, the id never shown). Hashing per
    distinct id costs less than per row, even with the file read twice.
    """
    hashed = [role for role in pseudonymise if sources[role] != "null"]
    if not hashed:
        return "", {}, "null::VARCHAR"
    names = names or {}
    distinct_cols = ", ".join(f'cast({sources[r]} as VARCHAR) as "{r}"' for r in hashed)
    con.execute(f"create or replace temp table _ids as select distinct {distinct_cols} from {scan}",
                params)
    joins, keyed, problems = [], {}, []
    for role in hashed:
        column, domain = pseudonymise[role]
        con.execute(
            f"""create or replace temp table "_keys_{role}" as
            select id, case when problem is null then ('0x' || left(sha256($opad || unhex(
                       sha256($ipad || encode($domain || wow_clean_id(id))))), $hex_digits)
                   )::UBIGINT end as key,
                   $name || ' ' || problem as problem
            from (select id, wow_value_problem(wow_clean_id(id), $max_chars, false) as problem
                  from (select distinct "{role}" as id from _ids))
            where wow_clean_id(id) is not null""",
            {"ipad": pads[0], "opad": pads[1], "domain": domain,
             "hex_digits": pseudonym.PATIENT_KEY_BITS // 4,
             "name": names.get(role, role), "max_chars": MAX_ID_CHARS})
        joins.append(f'left join "_keys_{role}" k_{role} '
                     f"on k_{role}.id = cast(r.{sources[role]} as VARCHAR)")
        keyed[role] = f'k_{role}.key as "{column}"'
        problems.append(f"k_{role}.problem")
    con.execute("drop table _ids")
    return " ".join(joins), keyed, f"coalesce({', '.join(problems)})"


# Identifiers (clinician, patient, encounter, workstation, metric, process) are at most this
# many characters, and other text values (action, report name) at most MAX_TEXT_CHARS.
MAX_ID_CHARS = 128
MAX_TEXT_CHARS = 256


def _role_select(sources: dict[str, str], pseudonymise: dict[str, tuple[str, str]],
                 keyed: dict[str, str]) -> str:
    """The select list of a row `r`: every role as VARCHAR, identifiers only as their keys
    (UBIGINT)."""
    return ", ".join(
        keyed[role] if role in keyed
        else f'null::UBIGINT as "{pseudonymise[role][0]}"' if role in pseudonymise
        else f'cast(r.{source} as VARCHAR) as "{role}"' if source != "null"
        else f'null::VARCHAR as "{role}"'
        for role, source in sources.items())


def _drop_keys(con, keyed: dict[str, str]) -> None:
    for role in keyed:
        con.execute(f'drop table "_keys_{role}"')


def stream_csv(con, path: Path, header: list[str], delimiter: str, quote: str, encoding: str,
               roles: dict[str, str | None], out: Path,
               pseudonymise: dict[str, tuple[str, str]], pads: tuple[bytes, bytes]) -> RawRead:
    """Stream a delimited extract to `out`: source_line, one VARCHAR column per role and
    id_problem (why an identifier of the row cannot be kept, or NULL).

    `roles` maps role name -> the header's column (as the header spells it). Roles named in
    `pseudonymise` (role -> (output column, domain prefix)) are written only as HMAC-SHA256 keys
    under `pads` (inner, outer), so no identifier reaches even a scratch file in the clear.
    Nothing is held in memory but DuckDB's buffers: the file is read into Parquet with each
    record's count of embedded newlines, and line numbers are fixed up from the (few) rejected
    records and multi-line records.

    A well-formed file is read once, strictly. A file with a malformed record (or one DuckDB's
    reader cannot take as it is: mixed line ends) is then read carefully: every physical line
    is counted first (the census), lines with far too many fields are left out and quarantined,
    mixed line ends are made one kind through a pipe, and the rejected records are placed on
    their lines; a record that swallows lines (an unterminated quote) quarantines the file.
    """
    try:
        return _stream_csv(con, path, header, delimiter, quote, encoding, roles, out,
                           pseudonymise, pads)
    except UnreadableFile:
        raise
    except Exception as exc:  # noqa: BLE001 (a file must never stop the run: it is quarantined)
        if is_resource_fault(exc):
            raise
        raise _csv_error(path, exc) from None


def _stream_csv(con, path: Path, header: list[str], delimiter: str, quote: str, encoding: str,
                roles: dict[str, str | None], out: Path,
                pseudonymise: dict[str, tuple[str, str]], pads: tuple[bytes, bytes]) -> RawRead:
    if len(header) > MAX_HEADER_COLUMNS:
        raise UnreadableFile(f"the header has {len(header):,} columns, more than the "
                             f"{MAX_HEADER_COLUMNS:,} read")
    position = {name.lower(): i for i, name in enumerate(header)}
    sources = {role: (f"c{position[col.lower()]}" if col is not None and col.lower() in position
                      else "null") for role, col in roles.items()}
    names = {role: col for role, col in roles.items() if col is not None}
    staged = out.with_name(out.stem + "-records.parquet")
    _, newline = _first_line(path, encoding)

    def read(source: _Source, strict: bool) -> int:
        params = {"spec": {f"c{i}": "VARCHAR" for i in range(len(header))}, "delim": delimiter,
                  "quote": quote, "enc": source.read_encoding}
        lenient = _reader_sql(strict=True).removesuffix(")") + ", ignore_errors = true)"
        con.execute("drop table if exists reject_errors; drop table if exists reject_scans;")
        with source.open() as where:
            joins, keyed, problem = _pseudonym_keys(con, lenient, {**params, "path": where},
                                                    sources, pseudonymise, pads, names)
        counted = _newline_count(len(header), "\n" if source.fed else newline)
        with source.open() as where:
            # Record numbers are taken as the file is read, before any join reorders rows.
            con.execute(
                f"""
                copy (
                    select r.source_line, r.extra_newlines,
                           {_role_select(sources, pseudonymise, keyed)}, {problem} as id_problem
                    from (
                        select row_number() over () + 1 as source_line,
                               {counted} as extra_newlines, *
                        from {_reader_sql(strict)}
                    ) r
                    {joins}
                ) to $staged (format parquet, compression zstd)
                """,
                {**params, "path": where, "staged": str(staged)},
            )
        _drop_keys(con, keyed)
        return con.execute("select count(*) from read_parquet($p)",
                           {"p": str(staged)}).fetchall()[0][0]

    try:
        source = _Source(path, encoding)
        n_good = read(source, strict=True)
        rejects: list[_Reject] = []
    except Exception as exc:  # noqa: BLE001 (a malformed record: read the file carefully)
        if is_resource_fault(exc):
            raise
        source = _careful_source(path, encoding, delimiter, len(header), out.parent)
        n_good = read(source, strict=False)
        rejects = _collect_rejects(con)
    records = f"read_parquet({sql_literal(str(staged))})"
    has_steps, placed = _line_steps(con, records, n_good, rejects, source.census,
                                    _wide_reason(len(header)))
    if not has_steps:
        os.replace(staged, out)  # line = record number + 1 (the header is line 1)
    else:
        columns = ", ".join(f'r."{pseudonymise[role][0] if role in pseudonymise else role}"'
                            for role in roles)
        line, steps_join = LINE_FIX_SQL
        con.execute(
            f"""
            copy (
                select {line} as source_line, {columns}, r.id_problem
                from {records} r {steps_join}
                order by source_line
            ) to $out (format parquet, compression zstd)
            """,
            {"out": str(out)},
        )
        staged.unlink()
    con.execute("drop table _line_steps")
    return RawRead(rows_read=int(n_good) + len(placed), rejects=placed)


def stream_parquet(con, path: Path, roles: dict[str, str | None], out: Path,
                   pseudonymise: dict[str, tuple[str, str]], pads: tuple[bytes, bytes]) -> RawRead:
    """Stream a Parquet extract to `out` like stream_csv; source_line is the 1-based row number."""
    by_lower = {n.lower(): n for n in parquet_columns(con, path)}
    sources = {role: (f'"{by_lower[col.lower()]}"' if col is not None and col.lower() in by_lower
                      else "null") for role, col in roles.items()}
    names = {role: col for role, col in roles.items() if col is not None}
    params = {"p": literal_path(path)}
    try:
        joins, keyed, problem = _pseudonym_keys(con, "read_parquet($p)", params, sources,
                                                pseudonymise, pads, names)
        con.execute(
            f"""copy (
                select r.source_line, {_role_select(sources, pseudonymise, keyed)},
                       {problem} as id_problem
                from (select row_number() over () as source_line, * from read_parquet($p)) r
                {joins}
            ) to $out (format parquet, compression zstd)""",
            {**params, "out": str(out)},
        )
        _drop_keys(con, keyed)
    except Exception as exc:  # noqa: BLE001 (a file must never stop the run: it is quarantined)
        if is_resource_fault(exc):
            raise
        raise UnreadableFile(f"cannot read as Parquet: {str(exc).splitlines()[0]}") from None
    n = con.execute("select count(*) from read_parquet($p)", {"p": str(out)}).fetchall()[0][0]
    return RawRead(rows_read=int(n))


def parquet_columns(con, path: Path) -> list[str]:
    """The leaf column names of a Parquet extract; raise UnreadableFile when it is not one."""
    try:
        return [r[0] for r in con.execute(
            "select name from parquet_schema($p) where num_children is null or num_children = 0",
            {"p": literal_path(path)},
        ).fetchall()]
    except Exception as exc:  # noqa: BLE001 (a file must never stop the run: it is quarantined)
        if is_resource_fault(exc):
            raise
        raise UnreadableFile(f"cannot read as Parquet: {str(exc).splitlines()[0]}") from None
