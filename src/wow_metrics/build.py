"""One build task: the day tables of a group of clinician buckets, in a database of its own."""

from __future__ import annotations

import time

from wow_metrics import warehouse as wh
from wow_metrics.progress import mark
from wow_metrics.run_context import BuildPlan, PartitionResult, RunContext, connect_run

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
    if events:
        wh.run_model_file(con, "sources/canonical_events.sql", {"lake_event_files": events})
    else:
        wh.run_model_file(con, "sources/canonical_events_none.sql", name="canonical_events")
    ref = ctx.work_dir / "reference"
    schedule = {"schedule_file": str(ref / "stg_schedule.parquet"), "buckets": buckets}
    if plan.scope_path:
        # An incremental build reads, per clinician in scope, the events within 3 days of the
        # days it rebuilds: enough for every interval that reaches into them.
        wh.load_parquet(con, "build_scope", plan.scope_path)
        wh.run_model_file(con, "build/scope_windows.sql")
        wh.run_model_file(con, "build/task_events.sql")
        wh.run_model_file(con, "build/task_events_in_scope.sql", name="lake_events")
    else:
        wh.run_model_file(con, "build/task_events.sql", name="lake_events")
    mark("build.partition_read")
    for table in ("stg_roster", "stg_holidays", "stg_category_map"):
        wh.load_parquet(con, table, ref / f"{table}.parquet")
    if plan.scope_path:
        wh.run_model_file(con, "build/task_schedule.sql", schedule)
        wh.run_model_file(con, "build/task_schedule_in_scope.sql", name="stg_schedule")
    else:
        wh.run_model_file(con, "build/task_schedule.sql", schedule, "stg_schedule")


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
            kept = model
            if plan.scope_path:  # only the days in scope: the rest were read for their edges
                wh.run_model_file(con, "build/task_rows_in_scope.sql", {"task_output": model})
                kept = "task_rows_in_scope"
            path = out / f"{table}.parquet"
            con.execute(f"copy {kept} to $p (format parquet)", {"p": str(path)})
            outputs[table] = str(path)
    finally:
        con.close()
    mark("build.partition_done")
    return PartitionResult(index, outputs, failures, time.perf_counter() - started)
