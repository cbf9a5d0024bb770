"""Read one delimited extract into a DuckDB table of VARCHAR columns with physical line numbers."""

from __future__ import annotations

import gzip
import os
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

# DuckDB's CSV buffer (per reading thread): small enough that a tight memory_limit still
# leaves room to sort and write, large enough to read at full speed.
CSV_BUFFER_BYTES = 4 << 20


class UnreadableFile(Exception):
    """The file cannot be read as data at all; it is quarantined whole."""


@dataclass
class RawRead:
    """What the reader made of one file."""

    columns: list[str]
    rows_read: int = 0
    rejects: list[tuple[int, str]] = field(default_factory=list)  # (line, reason)


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
        if b"\x00" in head.split(b"\n", 1)[0]:
            raise UnreadableFile("not a CSV file (binary content in the header line)")
        first = head.split(b"\n", 1)[0]
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


@dataclass
class StreamedRead:
    """An extract streamed to a Parquet file of role columns with physical line numbers."""

    rows_read: int
    rejects: list[tuple[int, str]]  # (physical line, reason) of records the reader rejected


def stream_csv(con, path: Path, header: list[str], delimiter: str, quote: str, encoding: str,
               roles: dict[str, str | None], out: Path,
               pseudonymise: dict[str, tuple[str, str]], pads: tuple[bytes, bytes]) -> StreamedRead:
    """Stream a delimited extract to `out`: source_line and one VARCHAR column per role.

    `roles` maps role name -> the header's column (as the header spells it). Roles named in
    `pseudonymise` (role -> (output column, domain prefix)) are written only as HMAC-SHA256 keys
    under `pads` (inner, outer), so no identifier reaches even a scratch file in the clear.
    Nothing is held in memory but DuckDB's buffers: the file is read once into Parquet, with
    each record's count of embedded newlines, and line numbers are fixed up from the (few)
    rejected records and multi-line records.
    """
    spec = {f"c{i}": "VARCHAR" for i in range(len(header))}
    position = {name.lower(): i for i, name in enumerate(header)}
    sources = {role: (f"c{position[col.lower()]}" if col is not None and col.lower() in position
                      else "null::VARCHAR") for role, col in roles.items()}
    # Embedded newlines are rare: count them only in records that have one.
    has_newline = " or ".join(f"contains(c{i}, chr(10))" for i in range(len(header))) or "false"
    newline_count = " + ".join(
        f"coalesce(length(c{i}) - length(replace(c{i}, chr(10), '')), 0)"
        for i in range(len(header))) or "0"
    newline_terms = f"case when {has_newline} then {newline_count} else 0 end"
    staged = out.with_name(out.stem + "-records.parquet")
    reader = (f"read_csv($path, header = true, auto_detect = false, columns = $spec, "
              f"delim = $delim, quote = $quote, escape = $quote, encoding = $enc, "
              f"buffer_size = {CSV_BUFFER_BYTES}, ")
    params = {"path": str(path), "spec": spec, "delim": delimiter, "quote": quote, "enc": encoding}
    try:
        con.execute("drop table if exists reject_errors; drop table if exists reject_scans;")
        # Identifiers are hashed once per distinct value (an HMAC per row costs more than reading
        # the file twice): a first scan collects them, and the main pass joins each row's key.
        hashed = [role for role in pseudonymise if sources[role] != "null::VARCHAR"]
        joins, keyed = [], {}
        if hashed:
            distinct_cols = ", ".join(f'{sources[r]} as "{r}"' for r in hashed)
            con.execute(f"create or replace temp table _ids as select distinct {distinct_cols} "
                        f"from {reader} ignore_errors = true)", params)
            for role in hashed:
                column, domain = pseudonymise[role]
                con.execute(
                    f"""create or replace temp table "_keys_{role}" as
                    select id, sha256($opad || unhex(sha256($ipad || encode(
                               $domain || wow_clean_id(id))))) as key
                    from (select distinct "{role}" as id from _ids)
                    where wow_clean_id(id) is not null""",
                    {"ipad": pads[0], "opad": pads[1], "domain": domain})
                joins.append(f'left join "_keys_{role}" k_{role} on k_{role}.id = r.{sources[role]}')
                keyed[role] = f'k_{role}.key as "{column}"'
            con.execute("drop table _ids")
        select_roles = ", ".join(
            keyed[role] if role in keyed
            else f'null::VARCHAR as "{pseudonymise[role][0]}"' if role in pseudonymise
            else f'r.{sources[role]} as "{role}"' if sources[role] != "null::VARCHAR"
            else f'null::VARCHAR as "{role}"'
            for role in roles)
        # Record numbers are taken as the file is read, before any join reorders rows.
        con.execute(
            f"""
            copy (
                select r.source_line, r.extra_newlines, {select_roles}
                from (
                    select row_number() over () + 1 as source_line,
                           ({newline_terms})::INTEGER as extra_newlines, *
                    from {reader} store_rejects = true)
                ) r
                {" ".join(joins)}
            ) to '{staged}' (format parquet, compression zstd)
            """,
            params,
        )
        for role in hashed:
            con.execute(f'drop table "_keys_{role}"')
        rejects = con.execute(
            "select line, error_type, error_message from reject_errors order by line"
        ).fetchall()
    except Exception as exc:  # duckdb raises a family of errors for unreadable input
        if "out of memory" in str(exc).lower():
            raise
        message = str(exc).splitlines()[0]
        if path.name.lower().endswith(".gz"):
            raise UnreadableFile(f"cannot read as gzip-compressed CSV (truncated or corrupt?): "
                                 f"{message}") from None
        raise UnreadableFile(f"cannot read as CSV: {message}") from None

    # DuckDB numbers a rejected record by its ordinal among all records (+1 for the header), not
    # by physical line. A good record's physical line is 1 + its ordinal + the embedded newlines
    # of the good records before it (a rejected record is taken as one line); the offset from
    # record_no + 1 is a step function with a step at each reject and each multi-line record.
    reasons: dict[int, str] = {}
    for line, error_type, message in rejects:
        reasons.setdefault(int(line) - 1, f"malformed CSV record ({error_type.lower()}): {message}")
    ordinals = sorted(reasons)
    n_good, extras = con.execute(
        f"select count(*), list((source_line - 1, extra_newlines) order by source_line) "
        f"filter (where extra_newlines > 0) from read_parquet('{staged}')"
    ).fetchall()[0]
    extras = [(int(k), int(e)) for k, e in (extras or [])]
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
    reject_pairs = []
    for o, g in zip(ordinals, good_before, strict=True):
        extra_before = sum(e for k, e in extras if k <= g)
        reject_pairs.append((1 + o + extra_before, reasons[o]))
    columns = ", ".join(f'r."{pseudonymise[role][0] if role in pseudonymise else role}"'
                        for role in roles)
    if not steps:
        os.replace(staged, out)  # line = record number + 1 (the header is line 1)
    else:
        con.register("step_table", pa.table({
            "start_record": pa.array(starts, pa.int64()),
            "line_offset": pa.array(offsets, pa.int64())}))
        con.execute(
            f"""
            copy (
                select (r.source_line + coalesce(s.line_offset, 0))::BIGINT as source_line,
                       {columns}
                from read_parquet('{staged}') r
                asof left join step_table s on r.source_line - 1 >= s.start_record
                order by r.source_line
            ) to '{out}' (format parquet, compression zstd)
            """
        )
        con.unregister("step_table")
        staged.unlink()
    return StreamedRead(rows_read=int(n_good) + len(ordinals), rejects=reject_pairs)


def stream_parquet(con, path: Path, roles: dict[str, str | None], out: Path,
                   pseudonymise: dict[str, tuple[str, str]], pads: tuple[bytes, bytes]
                   ) -> StreamedRead:
    """Stream a Parquet extract to `out` like stream_csv; source_line is the 1-based row number."""
    names = parquet_columns(con, path)
    by_lower = {n.lower(): n for n in names}
    sources = {role: (f'cast("{by_lower[col.lower()]}" as VARCHAR)'
                      if col is not None and col.lower() in by_lower else "null::VARCHAR")
               for role, col in roles.items()}
    select_cols = _select_roles(sources, pseudonymise)
    try:
        con.execute(
            f"""copy (select row_number() over () as source_line, {select_cols}
                      from read_parquet($p)) to '{out}' (format parquet, compression zstd)""",
            {"p": str(path), "ipad": pads[0], "opad": pads[1]},
        )
    except Exception as exc:
        raise UnreadableFile(f"cannot read as Parquet: {str(exc).splitlines()[0]}") from None
    n = con.execute(f"select count(*) from read_parquet('{out}')").fetchall()[0][0]
    return StreamedRead(rows_read=int(n), rejects=[])


def _select_roles(sources: dict[str, str], pseudonymise: dict[str, tuple[str, str]]) -> str:
    """The select list of role columns; identifiers as HMAC-SHA256(key, domain || trimmed id),
    computed as sha256(opad || sha256(ipad || m)) with the key's pads as $ipad and $opad."""
    parts = []
    for role, expr in sources.items():
        if role in pseudonymise:
            column, domain = pseudonymise[role]
            value = f"wow_clean_id({expr})"
            parts.append(f"case when {value} is not null then sha256($opad || unhex(sha256("
                         f"$ipad || encode('{domain}' || {value})))) end as \"{column}\"")
        else:
            parts.append(f'{expr} as "{role}"')
    return ", ".join(parts)


def parquet_columns(con, path: Path) -> list[str]:
    """The leaf column names of a Parquet extract; raise UnreadableFile when it is not one."""
    try:
        return [r[0] for r in con.execute(
            "select name from parquet_schema($p) where num_children is null or num_children = 0",
            {"p": str(path)},
        ).fetchall()]
    except Exception as exc:
        raise UnreadableFile(f"cannot read as Parquet: {str(exc).splitlines()[0]}") from None
