"""Run the sql/ models in dependency order against DuckDB, audit them, and publish atomically."""

from __future__ import annotations

import functools
import logging
import os
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from wow_metrics.files import fresh_copy, fsync_dir
from wow_metrics.progress import mark
from wow_metrics.sqlfiles import SQL_ROOT, install_macros

log = logging.getLogger(__name__)

LAYERS = ("staging", "intermediate", "marts")
PUBLISHED_TABLES = (
    "ehr_time_by_clinician_day",
    "ehr_time_by_clinician_period",
    "ehr_time_by_department_period",
    "efficiency_of_practice_by_period",
    "coverage_by_date",
    "ingest_manifest",
    "quarantine",
    "metric_definitions",
    "validation_results",
)
_PARAM = re.compile(r"\$([a-z_][a-z0-9_]*)")
# How a model's result is kept: a table, a view, or rows appended (by column name) to a table
# another model declared (a source filled file by file: sql/sources/reference_csv_rows.sql).
_MATERIALIZED = re.compile(r"^--\s*Materialized:\s*(table|view|append)\s*$", re.MULTILINE)
_SCOPE = re.compile(r"^--\s*Scope:\s*(reference|planning|partition|publication)\s*$",
                    re.MULTILINE)
# Where a model or audit runs: `reference` once per run on the reference files, `planning` once
# per incremental run to decide what to rebuild, `partition` once per bucket group of
# clinicians (in its own database, possibly on a Dask worker), `publication` once on the
# assembled tables before they are published.
SCOPES = ("reference", "planning", "partition", "publication")


class AuditFailure(RuntimeError):
    """A build broke an invariant; nothing was published."""

    def __init__(self, failures: dict[str, list[tuple]], counts: dict[str, int] | None = None,
                 docs: Path | None = None, descriptions: dict[str, str] | None = None):
        self.failures = failures
        self.counts = {name: (counts or {}).get(name, len(rows)) for name, rows in failures.items()}
        self.docs = docs
        self.descriptions = descriptions or {}
        lines = [f"{name}: {self.counts[name]} bad row(s), e.g. {rows[:3]}"
                 + (f"\n    ({self.descriptions[name]})" if name in self.descriptions else "")
                 for name, rows in failures.items()]
        tail = f"\n  details: {docs}" if docs else ""
        super().__init__("build failed its audits, the previous publication is kept:\n  "
                         + "\n  ".join(lines) + tail)


@dataclass(frozen=True)
class Model:
    """One sql/ file: a single select whose result becomes a table or view of the same name
    (or is appended to the table of that name)."""

    name: str
    layer: str
    sql: str
    materialized: str
    scope: str

    @property
    def params(self) -> set[str]:
        return set(_PARAM.findall(_strip_comments(self.sql)))


def _strip_comments(sql: str) -> str:
    return re.sub(r"--[^\n]*", "", sql)


def _scope_of(path: Path, text: str) -> str:
    found = _SCOPE.search(text)
    if not found:
        raise RuntimeError(f"{path}: header needs a '-- Scope: {'|'.join(SCOPES)}' line")
    return found.group(1)


def discover_models(scope: str | None = None, root: Path = SQL_ROOT) -> list[Model]:
    """Models of sql/staging, intermediate and marts (of one scope), each after its inputs."""
    stats = {path: path.stat() for layer in LAYERS for path in sorted((root / layer).glob("*.sql"))}
    files = tuple((path, st.st_mtime_ns, st.st_size) for path, st in stats.items())
    return [m for m in _ordered_models(files) if scope is None or m.scope == scope]


@functools.lru_cache(maxsize=8)
def _ordered_models(files: tuple[tuple[Path, int, int], ...]) -> tuple[Model, ...]:
    """The models of these files (path, mtime, size: a changed file is read again), each after
    the models it reads."""
    models: dict[str, Model] = {}
    for path, _, _ in files:
        text = path.read_text(encoding="utf-8")
        found = _MATERIALIZED.search(text)
        models[path.stem] = Model(path.stem, path.parent.name, text,
                                  found.group(1) if found else "table", _scope_of(path, text))
    deps = {
        name: {other for other in models if other != name
               and re.search(rf"\b{other}\b", _strip_comments(m.sql))}
        for name, m in models.items()
    }
    ordered: list[Model] = []
    done: set[str] = set()

    def visit(name: str, stack: tuple[str, ...]) -> None:
        if name in done:
            return
        if name in stack:
            raise RuntimeError(f"sql/ models form a cycle: {' -> '.join((*stack, name))}")
        for dep in sorted(deps[name]):
            visit(dep, (*stack, name))
        done.add(name)
        ordered.append(models[name])

    for layer in LAYERS:
        for name in sorted(n for n, m in models.items() if m.layer == layer):
            visit(name, ())
    return tuple(ordered)


def load_model(relative: str, root: Path = SQL_ROOT) -> Model:
    """One sql/ file that a step runs by name, outside the layers (planning, loading, assembly)."""
    path = root / relative
    text = path.read_text(encoding="utf-8")
    found, scope = _MATERIALIZED.search(text), _SCOPE.search(text)
    # A source loaded by any step (sources/parquet_file.sql) names no one scope.
    return Model(path.stem, path.parent.name, text, found.group(1) if found else "table",
                 scope.group(1) if scope else "any")


def run_model_file(con, relative: str, params: dict[str, Any] | None = None,
                   name: str | None = None) -> None:
    """Run the model of sql/<relative> as its own table (or as `name`, for a file run for more
    than one table)."""
    model = load_model(relative)
    params = params or {}
    if model.materialized == "view":  # a view reads its parameters as variables
        bind_variables(con, {k: params[k] for k in model.params if k in params})
    run_model(con, model if name is None else replace(model, name=name), params)


def load_parquet(con, table: str, path: Path | str) -> None:
    """Load a Parquet file the run wrote earlier as the table it was."""
    run_model_file(con, "sources/parquet_file.sql", {"parquet_file": str(path)}, table)


def discover_audits(scope: str, root: Path = SQL_ROOT) -> list[tuple[str, str]]:
    """Audits of one scope: (name, sql), each returning the rows that break an invariant."""
    audits = []
    for path in sorted((root / "audits").glob("*.sql")):
        text = path.read_text(encoding="utf-8")
        if _scope_of(path, text) == scope:
            audits.append((path.stem, text))
    return audits


def connect(path: Path | str, *, threads: int | None = None, memory_limit: str | None = None,
            temp_directory: Path | None = None, rereads_parquet: bool = False):
    """Open a DuckDB database for building: UTC session, macros installed, no network.

    rereads_parquet: the connection reads the same Parquet files many times (the publication
    gate checks the lake's thousands of files once per check): their footers are kept in
    memory after the first read (DuckDB re-reads a file's footer when its mtime changes)."""
    import duckdb

    config: dict[str, Any] = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}
    if threads:
        config["threads"] = threads
    if memory_limit:
        config["memory_limit"] = memory_limit
    con = duckdb.connect(str(path), config=config)
    con.execute("set TimeZone = 'UTC'")
    if rereads_parquet:
        con.execute("set parquet_metadata_cache = true")
    if temp_directory is not None:
        con.execute("set temp_directory = $d", {"d": str(temp_directory)})
    install_macros(con)
    return con


def bind_variables(con, params: dict[str, Any]) -> None:
    """Make each parameter available to views (which DuckDB cannot prepare) as a variable."""
    for name, value in params.items():
        con.execute(f"set variable {name} = $v", {"v": value})


def run_model(con, model: Model, params: dict[str, Any]) -> None:
    """Create the model's table (prepared with its $params) or view (params read as variables),
    or append its rows to the table of its name."""
    used = model.params
    missing = used - params.keys()
    if missing:
        raise RuntimeError(f"sql model {model.name} needs parameter(s) {sorted(missing)}")
    if model.materialized == "view":
        sql = _PARAM.sub(lambda m: f"getvariable('{m.group(1)}')", model.sql)
        con.execute(f"create or replace view {model.name} as\n{sql}")
    elif model.materialized == "append":
        con.execute(f"insert into {model.name} by name\n{model.sql}", {k: params[k] for k in used})
    else:
        con.execute(f"create or replace table {model.name} as\n{model.sql}",
                    {k: params[k] for k in used})


def run_models(con, params: dict[str, Any], scope: str) -> dict[str, float]:
    """Run every model of one scope in order; return seconds per model."""
    import time

    bind_variables(con, params)
    timings: dict[str, float] = {}
    for model in discover_models(scope):
        started = time.perf_counter()
        run_model(con, model, params)
        timings[model.name] = time.perf_counter() - started
        log.debug("built %s in %.3fs", model.name, timings[model.name])
    return timings


def run_audits(con, params: dict[str, Any], scope: str) -> dict[str, list[tuple]]:
    """Run the sql/audits of one scope: each returns the rows that break its invariant."""
    failures: dict[str, list[tuple]] = {}
    for name, sql in discover_audits(scope):
        used = set(_PARAM.findall(_strip_comments(sql)))
        rows = con.execute(sql, {k: params[k] for k in used}).fetchmany(20)
        if rows:
            failures[name] = rows
    return failures


def publish(build_con, warehouse: Path, tables: tuple[str, ...] = PUBLISHED_TABLES,
            comments: dict[str, str] | None = None,
            column_comments: dict[str, dict[str, str]] | None = None) -> Path:
    """Copy the published tables into a fresh database file and swap it in atomically.

    Readers holding the old file open keep reading the old version whole; new readers see the
    new one whole. The previous publication is kept as wow.previous.duckdb, a copy of it (so
    no connection to the old file can write into the rollback copy).
    """
    target = warehouse / "wow.duckdb"
    staging = warehouse / f".wow.duckdb.publishing-{os.getpid()}"
    staging.unlink(missing_ok=True)
    build_con.execute("attach $p as pub", {"p": str(staging)})
    try:
        for table in tables:
            build_con.execute(f"create table pub.{table} as select * from {table}")
        for table, text in (comments or {}).items():
            # COMMENT ON takes no prepared parameters; the texts are the project's own constants.
            build_con.execute(f"comment on table pub.{table} is {sql_literal(text)}")
        for table, columns in (column_comments or {}).items():
            for column, text in columns.items():
                build_con.execute(
                    f"comment on column pub.{table}.{column} is {sql_literal(text)}")
        build_con.execute("checkpoint pub")
    finally:
        build_con.execute("detach pub")
    with open(staging, "rb") as fh:
        os.fsync(fh.fileno())
    mark("publish.staged")
    previous = warehouse / "wow.previous.duckdb"
    if target.exists():
        # Keep the old version for rollback without ever leaving wow.duckdb absent. A copy,
        # not a hard link: a client that opened wow.duckdb read-write before this publication
        # keeps writing into the old file, which after the swap has no name at all.
        os.replace(fresh_copy(target, previous), previous)
        mark("publish.previous_kept")
    os.replace(staging, target)
    fsync_dir(warehouse)
    mark("publish.swapped")
    return target


def sql_literal(value: object) -> str:
    """A SQL literal of a bool, a number or (as a string, quotes doubled) anything else."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def sql_list(values: list) -> str:
    """A SQL list literal, for statements that take no prepared parameters (views)."""
    return "[" + ", ".join(sql_literal(v) for v in values) + "]"

