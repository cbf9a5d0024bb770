"""Finish a run: assemble the build tasks' rows, audit, validate, publish atomically, export."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from wow_metrics import warehouse as wh
from wow_metrics.build import PARTITION_OUTPUTS
from wow_metrics.files import secure_warehouse
from wow_metrics.ingest import IngestReport
from wow_metrics.lake import Lake
from wow_metrics.progress import mark
from wow_metrics.reference import REFERENCE_OUTPUTS
from wow_metrics.run_context import (
    BuildPlan,
    PartitionResult,
    RunContext,
    RunSummary,
    connect_run,
    live_extracts,
)
from wow_metrics.state import formats_fingerprint, known_lake_file_rows, save_state, state_dir
from wow_metrics.validate import validate

log = logging.getLogger(__name__)


def finish_run(ctx: RunContext, plan: BuildPlan, report: IngestReport,
               results: list[PartitionResult], phases: dict[str, float] | None = None) -> RunSummary:
    """Assemble the partitions, build the audit-trail tables, audit, and publish atomically."""
    phases = dict(phases or {})
    t0 = time.perf_counter()
    con = connect_run(ctx, ctx.work_dir / "publish.duckdb", temp_directory=ctx.work_dir / "tmp",
                   rereads_parquet=True)
    try:
        ref = ctx.work_dir / "reference"
        for table in REFERENCE_OUTPUTS:
            wh.load_parquet(con, table, ref / f"{table}.parquet")
        load_lake_audit_trail(con, ctx.lake)
        assemble(con, ctx, plan, results)
        mark("publish.assembled")
        wh.run_models(con, ctx.params, "publication")
        failures: dict[str, list[tuple]] = {}
        for result in results:
            for name, rows in result.audit_failures.items():
                failures.setdefault(name, []).extend(rows)
        failures.update(wh.run_audits(con, ctx.params, "publication"))
        phases["audit"] = time.perf_counter() - t0
        mark("publish.audited")
        t0 = time.perf_counter()
        validation = validate(con, ctx.lake, ctx.run_id, docs_dir=ctx.warehouse / "docs",
                              validated_extracts=set(plan.validated_shas),
                              known_lake_rows=(known_lake_file_rows(ctx.warehouse)
                                               if plan.validated_shas else None))
        failures.update(validation.critical)
        phases["validate"] = time.perf_counter() - t0
        mark("validate.done")
        if failures:
            raise wh.AuditFailure(failures, counts=validation.failing_counts,
                                  docs=validation.docs_index,
                                  descriptions=validation.descriptions)
        t0 = time.perf_counter()
        wh.publish(con, ctx.warehouse, comments=TABLE_COMMENTS,
                   column_comments=published_column_comments())
        save_state(con, ctx.warehouse, ctx.settings, live_extracts(ctx.lake), ctx.run_id,
                   formats_fingerprint(ctx.landing))
        phases["publish"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        outputs_warning = write_reader_outputs(ctx.warehouse)
        # This step may run in another process (a Dask worker) under another umask.
        secure_warehouse(ctx.warehouse, ctx.settings.file_mode)
        phases["exports"] = time.perf_counter() - t0
        summary = summarise(con, ctx, report)
        if outputs_warning:
            summary.warnings.append(outputs_warning)
        summary.build = plan.reason
        summary.partitions_reason = plan.partitions_reason
        summary.warnings += validation.warnings
        summary.expectations_run = validation.checks_run
        summary.events_validated = validation.events_checked
    finally:
        con.close()
    summary.phase_seconds = phases
    summary.partitions = len(results)
    return summary


def write_reader_outputs(warehouse: Path) -> str | None:
    """Leadership exports and the dashboard, from the new publication. The publication stands
    even if they fail (they can be rebuilt with `wow export` / `wow dashboard`): say so."""
    try:
        from wow_metrics.access import write_exports
        from wow_metrics.dashboard import build_dashboard

        write_exports(warehouse)
        mark("exports.written")
        build_dashboard(warehouse)
        mark("dashboard.written")
    except Exception as exc:  # noqa: BLE001 (reported as a warning, never silent)
        log.exception("exports/dashboard failed")
        return f"exports or dashboard not rebuilt ({type(exc).__name__}: {exc}); run `wow export` / `wow dashboard`"
    return None


def assemble(con, ctx: RunContext, plan: BuildPlan, results: list[PartitionResult]) -> None:
    """The partitions' new rows, plus (incrementally) every earlier row outside the scope."""
    files = {t: [r.outputs[t] for r in sorted(results, key=lambda r: r.index)]
             for t in PARTITION_OUTPUTS}
    if plan.scope_path:
        wh.load_parquet(con, "build_scope", plan.scope_path)
        con.execute("attach $db as prev_pub (read_only)", {"db": str(ctx.warehouse / "wow.duckdb")})
    previous = {"ehr_time_by_clinician_day": "assembly/previous_ehr_time_by_clinician_day.sql",
                "file_event_counts": "assembly/previous_file_event_counts.sql"}
    for table in PARTITION_OUTPUTS:
        partition_files = {"partition_files": files[table]}
        if not plan.scope_path:
            wh.run_model_file(con, "assembly/partition_rows.sql", partition_files, table)
            continue
        wh.run_model_file(con, previous[table], {"previous_file": str(
            state_dir(ctx.warehouse) / "file_event_counts.parquet")}, "previous_rows")
        if files[table]:
            wh.run_model_file(con, "assembly/new_rows.sql", partition_files)
        else:
            wh.run_model_file(con, "assembly/no_new_rows.sql", name="new_rows")
        wh.run_model_file(con, "assembly/assembled_rows.sql", name=table)
        con.execute("drop view new_rows")
        con.execute("drop view previous_rows")
    if plan.scope_path:
        con.execute("detach prev_pub")


def load_lake_audit_trail(con, lake: Lake) -> None:
    """The lake's manifest and its quarantined rows, for ingest_manifest and quarantine."""
    manifest = lake.load_manifest()
    quarantine = [str(p) for p in lake.live_quarantine_files(manifest)]
    if quarantine:
        wh.run_model_file(con, "sources/lake_quarantine_files.sql",
                          {"quarantine_files": quarantine})
    else:
        wh.run_model_file(con, "sources/lake_quarantine_files_none.sql",
                          name="lake_quarantine_files")
    wh.run_model_file(con, "sources/lake_quarantine.sql",
                      {"unreadable_files": lake.unusable_quarantine_rows(manifest)})
    wh.run_model_file(con, "sources/lake_manifest.sql", {"manifest_rows": manifest})


def summarise(con, ctx: RunContext, report: IngestReport) -> RunSummary:
    one = lambda sql: con.execute(sql).fetchone()[0]  # noqa: E731
    summary = RunSummary(run_id=ctx.run_id, warehouse=ctx.warehouse, ingest=report)
    summary.events_on_timeline = one("select coalesce(sum(rows_on_timeline), 0) from file_event_counts")
    summary.clinicians = one("select count(distinct clinician_id) from ehr_time_by_clinician_day")
    summary.day_rows = one("select count(*) from ehr_time_by_clinician_day")
    summary.period_rows = one("select count(*) from ehr_time_by_clinician_period")
    summary.rows_quarantined_total = one("select count(*) from quarantine")
    cur = con.execute("select file_path, status, rows_read, rows_quarantined from ingest_manifest "
                      "where file_kind <> 'audit_extract' order by file_path")
    names = [d[0] for d in cur.description]
    summary.reference_files = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    first, last = con.execute("select min(activity_date), max(activity_date) "
                              "from coverage_by_date").fetchone()
    summary.coverage = (first, last) if first is not None else None
    summary.gap_dates = [r[0] for r in con.execute(
        "select activity_date from coverage_by_date where is_gap order by 1").fetchall()]
    for msg in report.messages:
        summary.warnings.append(msg)
    return summary


def published_column_comments() -> dict[str, dict[str, str]]:
    """Each published column's definition and unit, from its table's contract."""
    from wow_metrics.contracts import column_comments, load_contracts

    contracts = load_contracts()
    return {t: column_comments(contracts[t]) for t in wh.PUBLISHED_TABLES if t in contracts}


TABLE_COMMENTS = {
    "ehr_time_by_clinician_day": "One row per clinician_id and local activity_date with an event "
    "or scheduled time. Active EHR minutes by category and by time of day (SPEC 5).",
    "ehr_time_by_clinician_period": "One row per clinician_id and period_start. Day metrics "
    "summed in hours, with per-8-scheduled-hour, per-FTE-week and per-scheduled-day figures (SPEC 6).",
    "ingest_manifest": "One row per input file version. rows_read = rows_loaded + "
    "rows_quarantined + rows_duplicate + rows_excluded (SPEC 9).",
    "quarantine": "One row per rejected input row (or whole file): file, line and reason.",
    "ehr_time_by_department_period": "One row per department and period_start: p25, median and "
    "p75 of the Sinsky core metrics over eligible clinicians; cells under min_cell_size "
    "clinicians suppressed (SPEC 8).",
    "efficiency_of_practice_by_period": "One row per period_start: the organisation's AMA "
    "efficiency-of-practice figures and their change from the previous period (SPEC 8).",
    "coverage_by_date": "One row per local date from the organisation's first to its last date "
    "with an event: the data's coverage (SPEC 6); is_gap marks a date without a single event "
    "(a missed extract).",
    "metric_definitions": "The settings and definitions every published figure was computed with.",
    "validation_results": "One row per contract check run on this publication: table, check, "
    "severity, success and failing rows (schemas/contracts).",
}
