"""Read one delimited extract into a DuckDB table of VARCHAR columns with physical line numbers
(a Parquet extract likewise): the fast strict read, and the careful one a malformed file gets
(its census and pipe: careful.py; its line numbers: lines.py)."""

from __future__ import annotations

import os
from pathlib import Path

from wow_metrics.ingest.careful import (
    MAX_EXTRA_FIELDS,
    MAX_HEADER_COLUMNS,
    ReadSource,
    census,
    wide_reason,
)
from wow_metrics.ingest.keys import (
    CHECKED_ONLY,
    drop_keys,
    keys_as_build_side,
    pseudonym_keys,
    role_select,
)
from wow_metrics.ingest.lines import (
    LINE_FIX_SQL,
    Reject,
    collect_rejects,
    line_steps,
    newline_count,
)
from wow_metrics.ingest.textfile import (
    RawRead,
    UnreadableFile,
    first_line,
    is_resource_fault,
    literal_path,
)

# Imported from here by reference.py and bench/floor.py (the reference files' reader).
from wow_metrics.ingest.textfile import read_first_line as read_first_line
from wow_metrics.ingest.textfile import read_header as read_header
from wow_metrics.lake import SCRATCH_PARQUET
from wow_metrics.warehouse import sql_literal

# DuckDB's CSV buffer (per reading thread): small enough that a tight memory_limit still
# leaves room to sort and write, large enough to read at full speed.
CSV_BUFFER_BYTES = 4 << 20


# ---------------------------------------------------------------------------------------------
# Readers
# ---------------------------------------------------------------------------------------------

def _csv_error(path: Path, exc: Exception) -> UnreadableFile:
    message = str(exc).splitlines()[0]
    if path.name.lower().endswith(".gz"):
        return UnreadableFile(f"cannot read as gzip-compressed CSV (truncated or corrupt?): {message}")
    return UnreadableFile(f"cannot read as CSV: {message}")



def _careful_source(path: Path, encoding: str, delimiter: str, header_columns: int,
                    folder: Path | None) -> ReadSource:
    """The census of a file the fast read could not take, and how DuckDB is to read it."""
    found = census(path, encoding, delimiter, header_columns + MAX_EXTRA_FIELDS)
    if 1 in {line for line, _ in found.wide}:
        raise UnreadableFile(f"the header line has more than {header_columns:,} fields")
    return ReadSource(path, encoding, found, folder)


def reader_sql(strict: bool) -> str:
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
    _, newline = first_line(path)
    source = _careful_source(path, "utf-8", ",", len(columns), None)
    spec = {f"c{i}": "VARCHAR" for i in range(len(columns))}
    con.execute("drop table if exists reject_errors; drop table if exists reject_scans;")
    counted = newline_count(len(columns), "\n" if source.fed else newline)
    with source.open() as where:
        con.execute(
            f"""
            create or replace temp table _raw_read as
            select row_number() over () + 1 as source_line, {counted} as extra_newlines, *
            from {reader_sql(strict=False)}
            """,
            {"path": where, "spec": spec, "delim": ",", "quote": '"', "enc": "utf-8"},
        ).fetchall()
    n_good = con.execute("select count(*) from _raw_read").fetchall()[0][0]
    _, rejects = line_steps(con, "_raw_read", n_good, collect_rejects(con), source.census,
                            wide_reason(len(columns)))
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
    _, newline = first_line(path, encoding)

    def read(source: ReadSource, strict: bool) -> int:
        params = {"spec": {f"c{i}": "VARCHAR" for i in range(len(header))}, "delim": delimiter,
                  "quote": quote, "enc": source.read_encoding}
        lenient = reader_sql(strict=True).removesuffix(")") + ", ignore_errors = true)"
        con.execute("drop table if exists reject_errors; drop table if exists reject_scans;")
        with source.open() as where:
            joins, keyed, problem = pseudonym_keys(con, lenient, {**params, "path": where},
                                                   sources, pseudonymise, pads, names)
        counted = newline_count(len(header), "\n" if source.fed else newline)
        with source.open() as where, keys_as_build_side(con):
            # Record numbers are taken as the file is read, before any join reorders rows.
            con.execute(
                f"""
                copy (
                    select r.source_line, r.extra_newlines,
                           {role_select(sources, pseudonymise, keyed)}, {problem} as id_problem
                    from (
                        select row_number() over () + 1 as source_line,
                               {counted} as extra_newlines, *
                        from {reader_sql(strict)}
                    ) r
                    {joins}
                ) to $staged ({SCRATCH_PARQUET})
                """,
                {**params, "path": where, "staged": str(staged)},
            )
        drop_keys(con, keyed)
        return con.execute("select count(*) from read_parquet($p)",
                           {"p": str(staged)}).fetchall()[0][0]

    try:
        source = ReadSource(path, encoding)
        n_good = read(source, strict=True)
        rejects: list[Reject] = []
    except Exception as exc:  # noqa: BLE001 (a malformed record: read the file carefully)
        if is_resource_fault(exc):
            raise
        source = _careful_source(path, encoding, delimiter, len(header), out.parent)
        n_good = read(source, strict=False)
        rejects = collect_rejects(con)
    records = f"read_parquet({sql_literal(str(staged))})"
    has_steps, placed = line_steps(con, records, n_good, rejects, source.census,
                                   wide_reason(len(header)))
    if not has_steps:
        os.replace(staged, out)  # line = record number + 1 (the header is line 1)
    else:
        columns = ", ".join(f'r."{pseudonymise[role][0] if role in pseudonymise else role}"'
                            for role in roles if role not in CHECKED_ONLY)
        line, steps_join = LINE_FIX_SQL
        con.execute(
            f"""
            copy (
                select {line} as source_line, r.extra_newlines, {columns}, r.id_problem
                from {records} r {steps_join}
                order by source_line
            ) to $out ({SCRATCH_PARQUET})
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
        joins, keyed, problem = pseudonym_keys(con, "read_parquet($p)", params, sources,
                                               pseudonymise, pads, names)
        # (A Parquet scan's row count is known: DuckDB builds on the keys without being told.)
        con.execute(
            f"""copy (
                select r.source_line, 0 as extra_newlines,
                       {role_select(sources, pseudonymise, keyed)}, {problem} as id_problem
                from (select row_number() over () as source_line, * from read_parquet($p)) r
                {joins}
            ) to $out ({SCRATCH_PARQUET})""",
            {**params, "out": str(out)},
        )
        drop_keys(con, keyed)
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
