"""Read one delimited extract into a DuckDB table of VARCHAR columns with physical line numbers."""

from __future__ import annotations

import gzip
import os
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

# DuckDB's CSV buffer (per reading thread): small enough that a tight memory_limit still
# leaves room to sort and write, large enough to read at full speed.
CSV_BUFFER_BYTES = 4 << 20


class UnreadableFile(Exception):
    """The file cannot be read as data at all; it is quarantined whole."""


@dataclass
class RawRead:
    """What the reader made of one file."""

    rows_read: int = 0
    rejects: list[tuple[int, str]] = field(default_factory=list)  # (physical line, reason)


def read_first_line(path: Path, encoding: str = "utf-8") -> str:
    """The file's first line as text (BOM and line end removed); raise UnreadableFile with why."""
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rb") as fh:
            head = fh.read(1 << 20)
    except (OSError, EOFError, zlib.error) as exc:
        if opener is gzip.open:
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
        first = head.split(b"\n", 1)[0]
        if b"\x00" in first:
            raise UnreadableFile("not a CSV file (binary content in the header line)")
        try:
            text = first.decode("utf-8-sig" if encoding == "utf-8" else encoding)
        except UnicodeDecodeError:
            raise UnreadableFile(f"header line is not {encoding} text") from None
    line = text.lstrip("\ufeff").split("\n", 1)[0].rstrip("\r")
    if "\x00" in line:
        raise UnreadableFile("not a CSV file (binary content in the header line)")
    if not line.strip():
        raise UnreadableFile("empty header line")
    return line


def read_header(path: Path) -> list[str]:
    """Return a comma-separated header's column names, stripped (reference files)."""
    return [c.strip().strip('"').strip() for c in read_first_line(path).split(",")]


def _newline_count(n_columns: int) -> str:
    """SQL: the embedded newlines of a record of columns c0..c{n-1} (0 for almost every record:
    counted only where one of its fields has one)."""
    if not n_columns:
        return "0"
    has_newline = " or ".join(f"contains(c{i}, chr(10))" for i in range(n_columns))
    count = " + ".join(f"coalesce(length(c{i}) - length(replace(c{i}, chr(10), '')), 0)"
                       for i in range(n_columns))
    return f"(case when {has_newline} then {count} else 0 end)::INTEGER"


def _csv_error(path: Path, exc: Exception) -> UnreadableFile:
    message = str(exc).splitlines()[0]
    if path.name.lower().endswith(".gz"):
        return UnreadableFile(f"cannot read as gzip-compressed CSV (truncated or corrupt?): {message}")
    return UnreadableFile(f"cannot read as CSV: {message}")


def _fix_line_numbers(con, records: str) -> tuple[bool, list[tuple[int, str]]]:
    """Turn DuckDB's record numbers into physical lines, from the rejects it just stored.

    `records` holds the good records with `source_line` = record number + 1 and
    `extra_newlines`. DuckDB numbers a rejected record by its ordinal among all records (+1 for
    the header), not by physical line. A good record's physical line is 1 + its ordinal + the
    embedded newlines of the good records before it (a rejected record is taken as one line), so
    its offset from record number + 1 is a step function with a step at each reject and each
    multi-line record. Creates temp table _line_steps (start_record, line_offset) for
    LINE_FIX_SQL; returns whether any step exists, and each reject's (physical line, reason).
    """
    reasons: dict[int, str] = {}
    for line, error_type, message in con.execute(
            "select line, error_type, error_message from reject_errors order by line").fetchall():
        reasons.setdefault(int(line) - 1, f"malformed CSV record ({error_type.lower()}): {message}")
    ordinals = sorted(reasons)
    extras = [(int(k), int(e)) for k, e in con.execute(
        f"select source_line - 1, extra_newlines from {records} where extra_newlines > 0 "
        "order by source_line").fetchall()]
    # Good records before reject i: its ordinal - 1 - (rejects before it).
    good_before = [o - 1 - i for i, o in enumerate(ordinals)]
    steps: dict[int, int] = {}
    for g in good_before:
        steps[g + 1] = steps.get(g + 1, 0) + 1
    for k, e in extras:
        steps[k + 1] = steps.get(k + 1, 0) + e
    starts, offsets, total = [], [], 0
    for k in sorted(steps):
        total += steps[k]
        starts.append(k)
        offsets.append(total)
    rejects = []
    for o, g in zip(ordinals, good_before, strict=True):
        rejects.append((1 + o + sum(e for k, e in extras if k <= g), reasons[o]))
    con.register("_line_steps_arrow", pa.table({
        "start_record": pa.array(starts, pa.int64()), "line_offset": pa.array(offsets, pa.int64())}))
    con.execute("create or replace temp table _line_steps as select * from _line_steps_arrow")
    con.unregister("_line_steps_arrow")
    return bool(steps), rejects


# The physical line of record `r`, joined as `s` to _line_steps (see _fix_line_numbers).
LINE_FIX_SQL = ("(r.source_line + coalesce(s.line_offset, 0))::BIGINT",
                "asof left join _line_steps s on r.source_line - 1 >= s.start_record")


def load_csv(con, path: Path, table: str, columns: list[str], wanted: list[str]) -> RawRead:
    """Load path into temp table `table` (source_line + `wanted` columns, VARCHAR, absent = NULL).

    `columns` are the header's names in file order; `wanted` the names the format knows, which
    must be spelled as in `columns` where present. For small files (reference files).
    """
    spec = {f"c{i}": "VARCHAR" for i in range(len(columns))}
    try:
        con.execute("drop table if exists reject_errors; drop table if exists reject_scans;")
        con.execute(
            f"""
            create or replace temp table _raw_read as
            select row_number() over () + 1 as source_line,
                   {_newline_count(len(columns))} as extra_newlines, *
            from read_csv($path, header = true, auto_detect = false, columns = $spec,
                          delim = ',', quote = '"', escape = '"', store_rejects = true)
            """,
            {"path": str(path), "spec": spec},
        ).fetchall()
    except Exception as exc:  # duckdb raises a family of errors for unreadable input
        raise _csv_error(path, exc) from None
    n_good = con.execute("select count(*) from _raw_read").fetchall()[0][0]
    _, rejects = _fix_line_numbers(con, "_raw_read")
    present = {name: i for i, name in enumerate(columns)}
    select_cols = ", ".join(
        (f'r.c{present[w]} as "{w}"' if w in present else f'null::VARCHAR as "{w}"') for w in wanted
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
                    pseudonymise: dict[str, tuple[str, str]], pads: tuple[bytes, bytes]
                    ) -> tuple[str, dict[str, str]]:
    """Key each distinct identifier of `scan` once: HMAC-SHA256(key, domain || trimmed id),
    computed as sha256(opad || sha256(ipad || m)) from the key's pads.

    `sources` maps role -> a column of `scan` (NULL when the file lacks it). Creates a temp
    table _keys_<role> (id, key) per identifier role present, and returns the joins that attach
    them to a row `r` of the file and, per role, the select item of its key column. Hashing per
    distinct id costs less than per row, even with the file read twice.
    """
    hashed = [role for role in pseudonymise if sources[role] != "null"]
    if not hashed:
        return "", {}
    distinct_cols = ", ".join(f'cast({sources[r]} as VARCHAR) as "{r}"' for r in hashed)
    con.execute(f"create or replace temp table _ids as select distinct {distinct_cols} from {scan}",
                params)
    joins, keyed = [], {}
    for role in hashed:
        column, domain = pseudonymise[role]
        con.execute(
            f"""create or replace temp table "_keys_{role}" as
            select id, sha256($opad || unhex(sha256($ipad || encode(
                       $domain || wow_clean_id(id))))) as key
            from (select distinct "{role}" as id from _ids)
            where wow_clean_id(id) is not null""",
            {"ipad": pads[0], "opad": pads[1], "domain": domain})
        joins.append(f'left join "_keys_{role}" k_{role} '
                     f"on k_{role}.id = cast(r.{sources[role]} as VARCHAR)")
        keyed[role] = f'k_{role}.key as "{column}"'
    con.execute("drop table _ids")
    return " ".join(joins), keyed


def _role_select(sources: dict[str, str], pseudonymise: dict[str, tuple[str, str]],
                 keyed: dict[str, str]) -> str:
    """The select list of a row `r`: every role as VARCHAR, identifiers only as their keys."""
    return ", ".join(
        keyed[role] if role in keyed
        else f'null::VARCHAR as "{pseudonymise[role][0]}"' if role in pseudonymise
        else f'cast(r.{source} as VARCHAR) as "{role}"' if source != "null"
        else f'null::VARCHAR as "{role}"'
        for role, source in sources.items())


def _drop_keys(con, keyed: dict[str, str]) -> None:
    for role in keyed:
        con.execute(f'drop table "_keys_{role}"')


def stream_csv(con, path: Path, header: list[str], delimiter: str, quote: str, encoding: str,
               roles: dict[str, str | None], out: Path,
               pseudonymise: dict[str, tuple[str, str]], pads: tuple[bytes, bytes]) -> RawRead:
    """Stream a delimited extract to `out`: source_line and one VARCHAR column per role.

    `roles` maps role name -> the header's column (as the header spells it). Roles named in
    `pseudonymise` (role -> (output column, domain prefix)) are written only as HMAC-SHA256 keys
    under `pads` (inner, outer), so no identifier reaches even a scratch file in the clear.
    Nothing is held in memory but DuckDB's buffers: the file is read into Parquet with each
    record's count of embedded newlines, and line numbers are fixed up from the (few) rejected
    records and multi-line records.
    """
    spec = {f"c{i}": "VARCHAR" for i in range(len(header))}
    position = {name.lower(): i for i, name in enumerate(header)}
    sources = {role: (f"c{position[col.lower()]}" if col is not None and col.lower() in position
                      else "null") for role, col in roles.items()}
    staged = out.with_name(out.stem + "-records.parquet")
    reader = (f"read_csv($path, header = true, auto_detect = false, columns = $spec, "
              f"delim = $delim, quote = $quote, escape = $quote, encoding = $enc, "
              f"buffer_size = {CSV_BUFFER_BYTES}, ")
    params = {"path": str(path), "spec": spec, "delim": delimiter, "quote": quote, "enc": encoding}
    try:
        con.execute("drop table if exists reject_errors; drop table if exists reject_scans;")
        joins, keyed = _pseudonym_keys(con, f"{reader} ignore_errors = true)", params, sources,
                                       pseudonymise, pads)
        # Record numbers are taken as the file is read, before any join reorders rows.
        con.execute(
            f"""
            copy (
                select r.source_line, r.extra_newlines, {_role_select(sources, pseudonymise, keyed)}
                from (
                    select row_number() over () + 1 as source_line,
                           {_newline_count(len(header))} as extra_newlines, *
                    from {reader} store_rejects = true)
                ) r
                {joins}
            ) to '{staged}' (format parquet, compression zstd)
            """,
            params,
        )
        _drop_keys(con, keyed)
    except Exception as exc:  # duckdb raises a family of errors for unreadable input
        if "out of memory" in str(exc).lower():
            raise
        raise _csv_error(path, exc) from None

    records = f"read_parquet('{staged}')"
    n_good = con.execute(f"select count(*) from {records}").fetchall()[0][0]
    has_steps, rejects = _fix_line_numbers(con, records)
    if not has_steps:
        os.replace(staged, out)  # line = record number + 1 (the header is line 1)
    else:
        columns = ", ".join(f'r."{pseudonymise[role][0] if role in pseudonymise else role}"'
                            for role in roles)
        line, steps_join = LINE_FIX_SQL
        con.execute(
            f"""
            copy (
                select {line} as source_line, {columns}
                from {records} r {steps_join}
                order by source_line
            ) to '{out}' (format parquet, compression zstd)
            """
        )
        staged.unlink()
    con.execute("drop table _line_steps")
    return RawRead(rows_read=int(n_good) + len(rejects), rejects=rejects)


def stream_parquet(con, path: Path, roles: dict[str, str | None], out: Path,
                   pseudonymise: dict[str, tuple[str, str]], pads: tuple[bytes, bytes]) -> RawRead:
    """Stream a Parquet extract to `out` like stream_csv; source_line is the 1-based row number."""
    by_lower = {n.lower(): n for n in parquet_columns(con, path)}
    sources = {role: (f'"{by_lower[col.lower()]}"' if col is not None and col.lower() in by_lower
                      else "null") for role, col in roles.items()}
    params = {"p": str(path)}
    try:
        joins, keyed = _pseudonym_keys(con, "read_parquet($p)", params, sources, pseudonymise, pads)
        con.execute(
            f"""copy (
                select r.source_line, {_role_select(sources, pseudonymise, keyed)}
                from (select row_number() over () as source_line, * from read_parquet($p)) r
                {joins}
            ) to '{out}' (format parquet, compression zstd)""",
            params,
        )
        _drop_keys(con, keyed)
    except Exception as exc:
        raise UnreadableFile(f"cannot read as Parquet: {str(exc).splitlines()[0]}") from None
    n = con.execute(f"select count(*) from read_parquet('{out}')").fetchall()[0][0]
    return RawRead(rows_read=int(n))


def parquet_columns(con, path: Path) -> list[str]:
    """The leaf column names of a Parquet extract; raise UnreadableFile when it is not one."""
    try:
        return [r[0] for r in con.execute(
            "select name from parquet_schema($p) where num_children is null or num_children = 0",
            {"p": str(path)},
        ).fetchall()]
    except Exception as exc:
        raise UnreadableFile(f"cannot read as Parquet: {str(exc).splitlines()[0]}") from None
