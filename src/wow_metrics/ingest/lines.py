"""Line numbers: DuckDB's record numbers turned into the file's physical lines, and each
record its reader rejected placed on its line."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pyarrow as pa

from wow_metrics.ingest.careful import Census
from wow_metrics.ingest.textfile import UnreadableFile

# DuckDB keeps at most this many characters of a rejected record's text (rejects_line_size_limit).
REJECT_TEXT_CHARS = 10_000


def newline_count(n_columns: int, newline: str = "\n") -> str:
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
class Reject:
    unit: int        # DuckDB's line: 1 + the records and empty lines before it
    span: int        # physical lines the record takes
    truncated: bool  # DuckDB kept only part of its text: span is a lower bound
    error_type: str
    reason: str


def collect_rejects(con) -> list[Reject]:
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
    return [Reject(int(line), int(span or 1), bool(truncated), str(kind),
                   f"malformed CSV record ({str(kind).lower()}): {message}")
            for line, kind, message, span, truncated in rows]


class _Unaccounted(Exception):
    """The reader's records and the file's lines do not add up."""


def _sweep(n_good: int, extras: list[tuple[int, int]], rejects: list[Reject],
           blanks: list[int]) -> tuple[list[tuple[int, int]], list[tuple[int, Reject, int]], int]:
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
    placed: list[tuple[int, Reject, int]] = []

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


def line_steps(con, records: str, n_good: int, rejects: list[Reject],
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


# The physical line of record `r`, joined as `s` to _line_steps (see line_steps).
LINE_FIX_SQL = ("(r.source_line + coalesce(s.line_offset, 0))::BIGINT",
                "asof left join _line_steps s on r.source_line - 1 >= s.start_record")
