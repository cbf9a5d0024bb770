"""Model tests on given rows (issue 24): the sql/ models run alone on hand-written rows in an
in-memory DuckDB, in the dbt `given / expect` shape, with no ingest, gate, exports or files of
events.

`Models` takes the same calls as the end-to-end `Landing` of conftest.py (config, canonical,
epic, roster, schedule, holidays, category_map), so a golden case reads the same either way:

- extract rows are given to sql/ingest/declared_format.sql as the raw rows of their format
  (patient ids replaced by a test hash, not the keyed HMAC), and the rows it accepts become
  `lake_events`, the build's declared source; a row it rejects fails the test with its reason
  (a rejection is an ingest rule: tested in tests/unit/, end to end);
- reference rows are read by the reference step's own loader and models;
- then the partition models (stg_events to ehr_time_by_clinician_day) run with their audits,
  and the publication models the day table feeds (coverage_by_date, the period table, rollups).

`run()` returns the same reader as an end-to-end run (day, days, period, query, table).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import duckdb
from conftest import Landing, Published

from wow_metrics import warehouse as wh
from wow_metrics.config import load_settings
from wow_metrics.ingest import format_parse_params
from wow_metrics.ingest.formats import registry
from wow_metrics.lake import EVENT_COLUMNS
from wow_metrics.reference import load_definitions, load_reference
from wow_metrics.run_context import build_params
from wow_metrics.sqlfiles import install_macros, read_sql

# The publication models a day table feeds; ingest_manifest and quarantine read the lake's
# audit trail, which model tests do not have.
PUBLICATION_MODELS = ("coverage_by_date", "ehr_time_by_clinician_period",
                      "ehr_time_by_department_period", "efficiency_of_practice_by_period")
ROLES = ("clinician_id", "action", "report_name", "category", "workstation_id", "metric_id",
         "process_id")


class ModelsResult(Published):
    """The tables the models made, read like a published warehouse."""

    def __init__(self, con: duckdb.DuckDBPyConnection):
        self.con = con
        self.summary = None

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        cur = self.con.execute(sql, params or {})
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


class Models(Landing):
    """Given rows for the models; reference rows in files under `root` (read by the
    reference step's loader), extract rows in memory."""

    def __init__(self, root: Path):
        super().__init__(root, root.parent / "unused-warehouse")
        self.extracts: dict[tuple[str, str], list[Mapping[str, Any]]] = {}

    def canonical(self, rows: Iterable[Mapping[str, Any]], name: str = "events.csv",
                  columns: list[str] | None = None) -> Path:
        self.extracts[("canonical", name)] = list(rows)
        return self.root / "audit" / "canonical" / name

    def epic(self, rows: Iterable[Mapping[str, Any]], name: str = "access_log.csv",
             columns: list[str] | None = None) -> Path:
        self.extracts[("epic_access_log", name)] = list(rows)
        return self.root / "audit" / "epic_access_log" / name

    def run(self) -> ModelsResult:
        settings = load_settings(self.root)
        params = build_params(settings)
        con = duckdb.connect()
        install_macros(con)
        load_reference(con, self.root, "model-test")
        load_definitions(con, settings, "model-test")
        wh.run_models(con, params, "reference")
        self._load_events(con, settings.default_timezone)
        wh.run_models(con, params, "partition")
        failures = wh.run_audits(con, params, "partition")
        assert not failures, f"the partition audits failed: {failures}"
        models = {m.name: m for m in wh.discover_models("publication")}
        for name in PUBLICATION_MODELS:
            wh.run_model(con, models[name], params)
        return ModelsResult(con)

    def _load_events(self, con: duckdb.DuckDBPyConnection, default_timezone: str) -> None:
        """lake_events: each given extract row parsed by sql/ingest/declared_format.sql."""
        columns = [(n, t) for n, t in EVENT_COLUMNS if n not in ("is_time_ambiguous", "bucket")]
        con.execute("create table lake_events ("
                    + ", ".join(f"{n} {t}" for n, t in columns) + ")")
        formats = _formats()
        for (fmt_name, file_name), rows in sorted(self.extracts.items()):
            fmt = formats.get(fmt_name)
            assert fmt is not None, fmt_name
            source = f"audit/{fmt_name}/{file_name}"
            _raw_events(con, fmt, source, rows)
            header = sorted({k for r in rows for k in r}) or fmt.required_columns
            parse = format_parse_params(fmt.sql_params(header, default_timezone),
                                        dt.datetime.now(dt.UTC), check_values=True)
            con.execute(f"create or replace table parsed as {read_sql('ingest/declared_format.sql')}",
                        parse)
            rejected = con.execute("select source_line, reject_reason from parsed "
                                   "where reject_reason is not null").fetchall()
            assert not rejected, f"{source}: given rows rejected by the ingest parse: {rejected}"
            con.execute("insert into lake_events by name select "
                        + ", ".join(n for n, _ in columns if n != "format")
                        + ", $format as format from parsed", {"format": fmt_name})


def _raw_events(con: duckdb.DuckDBPyConnection, fmt: Any, source: str,
                rows: list[Mapping[str, Any]]) -> None:
    """raw_events of one extract: a VARCHAR per role, as the ingest reads a file's columns
    (data rows numbered from line 2, after the header)."""
    roles = fmt.role_columns
    (time_1, _), (time_2, _) = fmt.event_time[0], fmt.event_time[-1]
    con.execute("""create or replace table raw_events (source_file VARCHAR, source_line BIGINT,
        clinician_id VARCHAR, action VARCHAR, report_name VARCHAR, category VARCHAR,
        workstation_id VARCHAR, metric_id VARCHAR, process_id VARCHAR, time_1 VARCHAR,
        time_2 VARCHAR, patient_key UBIGINT, id_problem VARCHAR, extra_newlines INTEGER)""")

    def text(row: Mapping[str, Any], column: str | None) -> str | None:
        value = row.get(column) if column else None
        return None if value is None else str(value)

    for line, row in enumerate(rows, start=2):
        patient = text(row, roles.get("patient_id"))
        con.execute(
            "insert into raw_events values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
            "case when nullif(trim(?), '') is not null then hash(trim(?)) end, null, 0)",
            [source, line, *(text(row, roles.get(r)) for r in ROLES), text(row, time_1),
             text(row, time_2), patient, patient])


@functools.lru_cache(maxsize=1)
def _formats() -> Any:
    """The shipped format declarations, read once per test process."""
    return registry()
