"""One build task: the day tables of a group of clinician buckets, in a database of its own."""

from __future__ import annotations

import time

from wow_metrics import warehouse as wh
from wow_metrics.lake import BUCKET_SQL
from wow_metrics.progress import mark
from wow_metrics.run_context import BuildPlan, PartitionResult, RunContext, connect_run

# The lake event columns the build reads (is_time_ambiguous stays in the lake for analysts;
# no metric uses it). The lake's layout: wow_metrics.lake.LAYOUT.
LAKE_EVENT_COLUMNS = """
    source_file VARCHAR, source_line BIGINT, format VARCHAR, clinician_id VARCHAR,
    event_at TIMESTAMPTZ, action VARCHAR, report_name VARCHAR, category_raw VARCHAR,
    patient_key UBIGINT, workstation_id VARCHAR
"""
LAKE_EVENT_NAMES = ", ".join(c.split()[0] for c in LAKE_EVENT_COLUMNS.split(","))

PARTITION_OUTPUTS = {
    # table assembled for publication: the partition model it comes from (both per clinician-day;
    # the period table is then recomputed from the assembled day table)
    "ehr_time_by_clinician_day": "ehr_time_by_clinician_day",
    "file_event_counts": "int_file_event_counts",
}


def load_partition_inputs(con, ctx: RunContext, plan: BuildPlan, buckets: list[int]) -> None:
    """The inputs of one build task: its lake events (a view over the lake's Parquet, read once
    by stg_events, columns the models use only) and its reference tables."""
    wanted = None if plan.extract_shas is None else set(plan.extract_shas)
    events = [str(p) for p in ctx.lake.live_event_files(ctx.lake.load_manifest(), buckets)
              if wanted is None or p.stem in wanted]
    # An incremental build reads, per clinician in scope, the events within 3 days of the
    # days it rebuilds: enough for every interval that reaches into them.
    if plan.scope_path:
        wh.load_parquet(con, "build_scope", plan.scope_path)
        wh.run_model_file(con, "build/scope_windows.sql")
    window_filter = (
        " where exists (select 1 from scope_windows w where w.clinician_id = e.clinician_id "
        "and cast(timezone('UTC', e.{col}) as DATE) between w.first_date and w.last_date)"
        if plan.scope_path else "")
    if events:
        # A view cannot take prepared parameters: the file list is written in as literals
        # (lake paths are the warehouse's own, hex names under folders it made).
        con.execute(f"create view lake_events as select {LAKE_EVENT_NAMES} "
                    f"from read_parquet({wh.sql_list(events)}) e"
                    + window_filter.format(col="event_at"))
    else:
        con.execute(f"create table lake_events ({LAKE_EVENT_COLUMNS})")
    mark("build.partition_read")
    ref = ctx.work_dir / "reference"
    for table in ("stg_roster", "stg_holidays", "stg_category_map"):
        wh.load_parquet(con, table, ref / f"{table}.parquet")
    # Schedule rows are staged globally (appointment_id replacement crosses clinicians);
    # each task keeps its own clinicians'.
    con.execute(f"create table stg_schedule as select * from (select * from read_parquet($p) "
                f"where {BUCKET_SQL} in (select unnest($buckets))) e"
                + window_filter.format(col="start_at"),
                {"p": str(ref / "stg_schedule.parquet"), "buckets": buckets})


def build_partition(ctx: RunContext, plan: BuildPlan, index: int) -> PartitionResult:
    """Build the day and period tables of one group of clinician buckets in its own database
    (in memory, spilling to the run's temp folder)."""
    started = time.perf_counter()
    buckets = plan.partitions[index]
    out = ctx.work_dir / "partitions" / f"{index:03d}"
    out.mkdir(parents=True, exist_ok=True)
    # In memory: what does not fit memory_limit spills to the run's temp folder (a database
    # file would compress and write every table of the build, which costs more than it saves).
    con = connect_run(ctx, temp_directory=ctx.work_dir / "tmp")
    try:
        load_partition_inputs(con, ctx, plan, buckets)
        wh.run_models(con, ctx.params, "partition")
        failures = wh.run_audits(con, ctx.params, "partition")
        outputs = {}
        for table, model in PARTITION_OUTPUTS.items():
            path = out / f"{table}.parquet"
            keep = (" where (clinician_id, activity_date) in "
                    "(select (clinician_id, activity_date) from build_scope)"
                    if plan.scope_path else "")
            con.execute(f"copy (select * from {model}{keep}) to $p (format parquet)",
                        {"p": str(path)})
            outputs[table] = str(path)
    finally:
        con.close()
    mark("build.partition_done")
    return PartitionResult(index, outputs, failures, time.perf_counter() - started)
