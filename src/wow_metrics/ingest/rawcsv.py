"""Read one delimited extract into a DuckDB table of VARCHAR columns with physical line numbers."""

from __future__ import annotations

import gzip
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


class UnreadableFile(Exception):
    """The file cannot be read as data at all; it is quarantined whole."""


@dataclass
class RawRead:
    """What the reader made of one file."""

    columns: list[str]
    rows_read: int = 0
    rejects: list[tuple[int, str]] = field(default_factory=list)  # (line, reason)


def read_header(path: Path) -> list[str]:
    """Return the header's column names, stripped; raise UnreadableFile with the reason."""
    opener = gzip.open if path.name.endswith(".gz") else open
    try:
        with opener(path, "rb") as fh:
            first = fh.readline(1 << 20)
    except (OSError, EOFError, zlib.error) as exc:
        raise UnreadableFile(f"cannot read file: {exc}") from None
    if not first.strip():
        raise UnreadableFile("empty file: no header line")
    try:
        text = first.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UnreadableFile("header line is not UTF-8 text") from None
    if "\x00" in text:
        raise UnreadableFile("not a CSV file (binary content in the header line)")
    return [c.strip().strip('"').strip() for c in text.rstrip("\r\n").split(",")]


def load_csv(con, path: Path, table: str, columns: list[str], wanted: list[str]) -> RawRead:
    """Load path into temp table `table` (source_line + `wanted` columns, VARCHAR, absent = NULL).

    `columns` are the header's names in file order; `wanted` the names the format knows, which
    must be spelled as in `columns` where present.
    """
    spec = {f"c{i}": "VARCHAR" for i in range(len(columns))}
    try:
        con.execute("drop table if exists reject_errors; drop table if exists reject_scans;")
        con.execute(
            """
            create or replace temp table _raw_read as
            select row_number() over () as record_no, *
            from read_csv($path, header = true, auto_detect = false, columns = $spec,
                          delim = ',', quote = '"', escape = '"', store_rejects = true,
                          )
            """,
            {"path": str(path), "spec": spec},
        ).fetchall()
        rejects = con.execute(
            "select line, error_type, error_message from reject_errors order by line"
        ).fetchall()
    except Exception as exc:  # duckdb raises a family of errors for unreadable input
        message = str(exc).splitlines()[0]
        raise UnreadableFile(f"cannot read as CSV: {message}") from None

    # DuckDB numbers a rejected record by its ordinal among all records (+1 for the header), not
    # by physical line. Physical lines: each record advances 1 + its embedded newlines (a
    # rejected record is taken as one line). The common case (no rejects, no embedded
    # newlines) stays in SQL: line = record number + 1.
    reject_ordinals = sorted({int(line) - 1 for line, _, _ in rejects})
    reasons: dict[int, str] = {}
    for line, error_type, message in rejects:
        reasons.setdefault(int(line) - 1, f"malformed CSV record ({error_type.lower()}): {message}")
    newline_terms = " + ".join(
        f"coalesce(length(c{i}) - length(replace(c{i}, chr(10), '')), 0)" for i in range(len(columns))
    ) or "0"
    n_good, max_advance = con.execute(
        f"select count(*), coalesce(max(1 + {newline_terms}), 1) from _raw_read"
    ).fetchone()
    reject_lines: list[int] = []
    if not reject_ordinals and max_advance == 1:
        con.execute("create or replace temp table _raw_lines as "
                    "select record_no, record_no + 1 as source_line from _raw_read")
    else:
        advance = con.execute(
            f"select (1 + {newline_terms})::BIGINT as a from _raw_read order by record_no"
        ).fetchnumpy()["a"].astype(np.int64)
        total = n_good + len(reject_ordinals)
        is_good = np.ones(total, dtype=bool)
        is_good[[o - 1 for o in reject_ordinals if 0 < o <= total]] = False
        steps = np.ones(total, dtype=np.int64)
        steps[is_good] = advance[: int(is_good.sum())]
        physical = 2 + np.concatenate([[0], np.cumsum(steps)[:-1]])
        reject_lines = [int(x) for x in physical[~is_good]]
        import pyarrow as pa

        line_table = pa.table({  # noqa: F841 (read by DuckDB's replacement scan)
            "record_no": np.arange(1, n_good + 1, dtype=np.int64),
            "source_line": physical[is_good][:n_good],
        })
        con.execute("create or replace temp table _raw_lines as select * from line_table")
    reject_pairs = [(line, reasons[o]) for line, o in zip(reject_lines, reject_ordinals, strict=False)]

    present = {name: i for i, name in enumerate(columns)}
    select_cols = ", ".join(
        (f'r.c{present[w]} as "{w}"' if w in present else f'null::VARCHAR as "{w}"') for w in wanted
    )
    con.execute(
        f"""
        create or replace temp table {table} as
        select l.source_line, {select_cols}
        from _raw_read r join _raw_lines l using (record_no)
        order by l.source_line
        """
    )
    con.execute("drop table _raw_read; drop table _raw_lines")
    return RawRead(
        columns=columns,
        rows_read=n_good + len(reject_ordinals),
        rejects=reject_pairs,
    )


def load_parquet(con, path: Path, table: str, wanted: list[str]) -> RawRead:
    """Load a Parquet extract as VARCHAR columns; source_line is the 1-based row number."""
    try:
        names = [r[0] for r in con.execute(
            "select name from parquet_schema($p) where num_children is null or num_children = 0",
            {"p": str(path)},
        ).fetchall()]
    except Exception as exc:
        raise UnreadableFile(f"cannot read as Parquet: {str(exc).splitlines()[0]}") from None
    select_cols = ", ".join(
        (f'cast("{w}" as VARCHAR) as "{w}"' if w in names else f'null::VARCHAR as "{w}"')
        for w in wanted
    )
    try:
        con.execute(
            f"""create or replace temp table {table} as
            select row_number() over () as source_line, {select_cols} from read_parquet($p)""",
            {"p": str(path)},
        )
    except Exception as exc:
        raise UnreadableFile(f"cannot read as Parquet: {str(exc).splitlines()[0]}") from None
    n = con.execute(f"select count(*) from {table}").fetchone()[0]
    return RawRead(columns=names, rows_read=n)
