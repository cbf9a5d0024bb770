"""Informatics access to the published warehouse: read-only queries, a shell, exports, rollback."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from wow_metrics.files import fresh_copy, fsync_dir, replace_dir
from wow_metrics.state import state_dir

ROLLUP_TABLES = ("ehr_time_by_department_period", "efficiency_of_practice_by_period")
CLINICIAN_TABLES = ("ehr_time_by_clinician_period",)


class NoPublication(RuntimeError):
    """There is no published warehouse (or no previous one to roll back to)."""


def published_db(warehouse: Path | str) -> Path:
    db = Path(warehouse) / "wow.duckdb"
    if not db.exists():
        raise NoPublication(f"no published warehouse at {db}: run `wow run` first")
    return db


# An analyst's connection: no extension is fetched or loaded behind their back, and none from
# the community repository; the rest is locked once the publication is attached.
_ANALYST_CONFIG = {"autoinstall_known_extensions": False, "autoload_known_extensions": False,
                   "allow_community_extensions": False, "allow_unsigned_extensions": False}


def connect_analyst(warehouse: Path | str):
    """A connection to the published tables and nothing else: for SQL an analyst writes.

    The publication is attached read-only to an in-memory database, then external access is
    switched off (no file is read or written by SQL: no read_csv or read_parquet of the lake,
    no COPY TO, no EXPORT DATABASE, no ATTACH, no INSTALL or LOAD) and the configuration is
    locked, so no SET or RESET turns any of it back on. Attaching (rather than opening the file
    with a configuration of its own) leaves other readers of the same file in this process
    alone and always reads the current publication.
    """
    import duckdb

    db = published_db(warehouse)
    con = duckdb.connect(":memory:", config=dict(_ANALYST_CONFIG))
    try:
        con.execute("attach $db as wow (read_only)", {"db": str(db.resolve())})
        con.execute("use wow")
        con.execute("set enable_external_access = false")
        con.execute("set lock_configuration = true")
    except BaseException:
        con.close()
        raise
    return con


def connect_read_only(warehouse: Path | str):
    """A read-only connection to the published warehouse for this package's own SQL (exports):
    it may write files, so it never runs SQL from a user (that is connect_analyst's)."""
    import duckdb

    return duckdb.connect(str(published_db(warehouse)), read_only=True)


def run_query(warehouse: Path | str, sql: str, out=None, fmt: str = "table",
              max_rows: int = 1000) -> int:
    """Run one SQL statement on the published tables only and print its result; return the
    number of rows."""
    out = out or sys.stdout
    with connect_analyst(warehouse) as con:
        rel = con.sql(sql)
        if rel is None:  # a statement without a result (e.g. SET)
            return 0
        if fmt == "csv":
            import csv

            writer = csv.writer(out)
            writer.writerow(rel.columns)
            rows = rel.fetchall()
            writer.writerows(rows)
            return len(rows)
        rows = rel.limit(max_rows + 1).fetchall()
        out.write(render(rel.columns, rows[:max_rows]))
        if len(rows) > max_rows:
            out.write(f"... showing the first {max_rows} rows; use --csv for all of them\n")
        return min(len(rows), max_rows)


def render(columns: list[str], rows: list[tuple]) -> str:
    """Rows as an aligned text table, nothing truncated (definitions are long)."""
    cells = [[("NULL" if v is None else str(v)) for v in row] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    line = lambda values: " | ".join(v.ljust(w) for v, w in zip(values, widths, strict=True))  # noqa: E731
    out = [line(columns), "-+-".join("-" * w for w in widths)] + [line(r) for r in cells]
    return "\n".join(x.rstrip() for x in out) + f"\n({len(rows)} row{'s' if len(rows) != 1 else ''})\n"


def shell(warehouse: Path | str, stdin=None, out=None) -> int:
    """A minimal SQL shell on the published warehouse, read-only: statements end with ';'."""
    stdin, out = stdin or sys.stdin, out or sys.stdout
    db = published_db(warehouse)
    interactive = stdin.isatty()
    if interactive:
        out.write(f"wow shell: {db} (read-only; the published tables only, no files). End "
                  "statements with ';'. Try:\n"
                  "  select table_name, comment from duckdb_tables();\n"
                  "  select column_name, comment from duckdb_columns() "
                  "where table_name = 'ehr_time_by_clinician_period';\n"
                  "Ctrl-D to leave.\n")
    buffer: list[str] = []
    errors = 0
    with connect_analyst(warehouse) as con:
        while True:
            if interactive:
                out.write("wow> " if not buffer else "...> ")
                out.flush()
            line = stdin.readline()
            if not line:
                break
            buffer.append(line)
            text = "".join(buffer).strip()
            if not text.endswith(";"):
                continue
            buffer = []
            try:
                rel = con.sql(text)
                if rel is not None:
                    out.write(render(rel.columns, rel.fetchall()) + "\n")
            except Exception as exc:  # noqa: BLE001 (a shell reports and goes on)
                errors += 1
                out.write(f"error: {exc}\n")
    return 1 if errors and not interactive else 0


def leadership_exports_dir(warehouse: Path | str) -> Path:
    """Where leadership reads: rollups only."""
    return Path(warehouse) / "exports"


def informatics_exports_dir(warehouse: Path | str) -> Path:
    """Where clinician-level exports go: never beside the leadership files."""
    return Path(warehouse) / "informatics" / "exports"


def write_exports(warehouse: Path | str, clinician_level: bool = False) -> list[Path]:
    """Leadership exports: <warehouse>/exports/<period_start>/<table>.{parquet,csv}; return them.

    Rollups only (department and organisation rows; suppressed cells stay NULL and flagged),
    never a clinician-level row or a patient key. Rewritten whole each time (into a side
    folder, then swapped in), so nothing else survives in that folder. The clinician-level
    export (the informatics audience) is written under informatics/exports/ when
    clinician_level is asked for, and rewritten with the leadership files whenever it exists,
    so it never shows the figures of an older publication than theirs.
    """
    warehouse = Path(warehouse)
    published_db(warehouse)
    files = _write_export_folder(warehouse, leadership_exports_dir(warehouse), ROLLUP_TABLES)
    if clinician_level or informatics_exports_dir(warehouse).exists():
        write_informatics_exports(warehouse)
    return files


def write_informatics_exports(warehouse: Path | str) -> list[Path]:
    """Clinician-level exports: <warehouse>/informatics/exports/<period_start>/<table>.*."""
    warehouse = Path(warehouse)
    return _write_export_folder(warehouse, informatics_exports_dir(warehouse), CLINICIAN_TABLES)


# A text cell that a spreadsheet would run as a formula starts with one of these (OWASP, "CSV
# Injection"). It is written with a leading single quote, which spreadsheets read as text.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def csv_safe_select(con, table: str) -> str:
    """A select of `table` (alias t) with every text column made spreadsheet-safe; numbers,
    dates and booleans are left as they are (-1.5 stays a number). Rows are ordered by their
    exact values, as in the Parquet file."""
    from wow_metrics.warehouse import sql_literal

    columns = con.execute(
        "select column_name, data_type from duckdb_columns() where database_name = "
        "current_database() and schema_name = 'main' and table_name = $t order by column_index",
        {"t": table}).fetchall()
    prefixes = ", ".join(sql_literal(p) for p in FORMULA_PREFIXES)
    shown, order = [], []
    for name, data_type in columns:
        col = 't."' + name.replace('"', '""') + '"'
        alias = col.removeprefix("t.")
        order.append(col)
        shown.append(f"case when left({col}, 1) in ({prefixes}) then '''' || {col} "
                     f"else {col} end as {alias}" if data_type == "VARCHAR" else col)
    return (f"select {', '.join(shown)} from {table} t where t.period_start = $p "
            f"order by {', '.join(order)}")


def _write_export_folder(warehouse: Path, final: Path, tables: tuple[str, ...]) -> list[Path]:
    """One folder per period of the published tables: Parquet exact, CSV spreadsheet-safe."""
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = final.with_name(f".{final.name}-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    with connect_read_only(warehouse) as con:
        periods = [r[0] for r in con.execute(
            "select distinct period_start from efficiency_of_practice_by_period "
            "order by 1").fetchall()]
        safe = {table: csv_safe_select(con, table) for table in tables}
        for period in periods:
            folder = staging / period.isoformat()
            folder.mkdir()
            for table in tables:
                con.execute(f"copy (select * from {table} where period_start = $p order by all) "
                            "to $out (format parquet)",
                            {"p": period, "out": f"{folder / table}.parquet"})
                con.execute(f"copy ({safe[table]}) to $out (format csv, header)",
                            {"p": period, "out": f"{folder / table}.csv"})
    replace_dir(staging, final)
    return sorted(final.rglob("*.*"))


def rollback(warehouse: Path | str) -> Path:
    """Make the previous publication current again (and the current one the previous).

    Both names get fresh copies, never a file that existed before: a connection someone opened
    read-write on either file keeps writing into a file that no longer has a name. The
    incremental state describes the newer publication, so it is dropped: the next run rebuilds
    every table from the lake (nothing is re-ingested).
    """
    warehouse = Path(warehouse)
    current, previous = published_db(warehouse), warehouse / "wow.previous.duckdb"
    if not previous.exists():
        raise NoPublication(f"no previous publication to roll back to ({previous} is missing)")
    restored = fresh_copy(previous, current)
    rolled_back = fresh_copy(current, previous)
    os.replace(restored, current)  # readers see the old version whole, never no file
    os.replace(rolled_back, previous)
    fsync_dir(warehouse)
    shutil.rmtree(state_dir(warehouse), ignore_errors=True)
    return current
