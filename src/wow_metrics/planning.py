"""Plan a build: everything or only the clinician-days touched since the last publication, and
in how many build tasks."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from wow_metrics.config import Settings, memory_limit_bytes
from wow_metrics.lake import BUCKET_SQL, LIVE_STATUSES, N_BUCKETS
from wow_metrics.run_context import BuildPlan, RunContext, connect_run, live_extracts
from wow_metrics.sqlfiles import read_sql
from wow_metrics.state import (
    code_fingerprint,
    formats_fingerprint,
    load_state,
    settings_fingerprint,
    state_dir,
)

# Events one build task holds per GB of memory_limit without heavy spilling: 122.6M events in
# 16 tasks (7.7M each) built under 4GB at 4.1 GB RSS, while one task spilled ~6 GB a minute
# (bench/README.md, stop 14).
BUILD_EVENTS_PER_GB = 2_000_000


def build_task_count(settings: Settings, events: int) -> tuple[int, str]:
    """How many build tasks (bucket groups) a build of about `events` lake events uses, and why.

    wow.yaml's `build_partitions` (or --partitions) when set; otherwise the fewest tasks that
    keep each under BUILD_EVENTS_PER_GB per GB of memory_limit (DuckDB's default limit, 80% of
    RAM, when unset). Speed and memory only: the tables are the same for any number.
    """
    if settings.build_partitions is not None:
        return settings.build_partitions, "set by build_partitions (wow.yaml) or --partitions"
    limit = memory_limit_bytes(settings.memory_limit)
    if limit is None:
        return 1, f"memory_limit {settings.memory_limit!r} not read as a size: one task"
    per_task = max(1, int(limit / 1e9 * BUILD_EVENTS_PER_GB))
    n = max(1, min(N_BUCKETS, -(-events // per_task)))
    shown = settings.memory_limit or f"default ({limit / 1e9:.1f} GB, 80% of RAM)"
    return n, (f"auto: {events:,} events to build, at most {per_task:,} per task under "
               f"memory_limit {shown}")


def bucket_groups(n: int) -> list[list[int]]:
    n = max(1, min(n, N_BUCKETS))
    return [list(range(i, N_BUCKETS, n)) for i in range(n)]


def plan_build(ctx: RunContext, backfill: tuple[dt.date, dt.date] | None = None) -> BuildPlan:
    """Decide what to rebuild since the last publication, and split it into build tasks.

    Everything is rebuilt on --full-refresh or --reingest, without a previous publication, or
    when a setting
    or the action map changed (either can move any figure). Otherwise only the clinician-days
    that new or replaced extracts, roster, schedule or holiday changes can touch, plus every
    day within `backfill` (start, end) when given; period rows are recomputed from the day
    table. The result equals a full rebuild.
    """
    state = load_state(ctx.warehouse)
    ref = ctx.work_dir / "reference"
    reason = None
    if ctx.reingest:
        reason = "re-ingest requested: the lake was read again from the landing zone"
    elif ctx.full_refresh:
        reason = "full refresh requested: every table rebuilt from the lake"
    elif state is None:
        reason = ("no previous publication" if not (ctx.warehouse / "wow.duckdb").exists() else
                  "no trustworthy record of what the current publication was built from")
    elif state["settings"] != settings_fingerprint(ctx.settings):
        reason = "settings changed since the last publication"
    elif state.get("code") != code_fingerprint():
        reason = "the metric SQL or a table contract changed since the last publication"
    elif state.get("formats") != formats_fingerprint(ctx.landing):
        reason = "an extract format's declaration changed since the last publication"
    else:
        con = connect_run(ctx)
        try:
            maps = con.execute(
                "select count(*) from ((select format, action_key, report_name_key, category, "
                "is_prescription from read_parquet($a) where is_effective except select format, "
                "action_key, report_name_key, category, is_prescription from read_parquet($b) "
                "where is_effective) union all (select format, action_key, report_name_key, "
                "category, is_prescription from read_parquet($b) where is_effective except select "
                "format, action_key, report_name_key, category, is_prescription from "
                "read_parquet($a) where is_effective))",
                {"a": str(ref / "stg_category_map.parquet"),
                 "b": str(state_dir(ctx.warehouse) / "stg_category_map.parquet")}).fetchone()[0]
        finally:
            con.close()
        if maps:
            reason = "the action map changed since the last publication"
    if reason:
        events = sum(r["rows_written"] or 0 for r in ctx.lake.load_manifest()
                     if r["status"] in LIVE_STATUSES)
        n, how = build_task_count(ctx.settings, events)
        return BuildPlan(partitions=bucket_groups(n), full=True, reason=reason,
                         partitions_reason=how)

    scope_path = ctx.work_dir / "scope.parquet"
    scope_rows, buckets, shas, events = write_scope(ctx, state, scope_path, backfill)
    n, how = build_task_count(ctx.settings, events)
    partitions = [g for g in ([b for b in grp if b in buckets] for grp in bucket_groups(n)) if g]
    why = f"incremental: {scope_rows} clinician-day(s) touched since the last publication"
    return BuildPlan(partitions=partitions, full=False, reason=why, partitions_reason=how,
                     scope_path=str(scope_path),
                     scope_rows=scope_rows, extract_shas=shas,
                     validated_shas=sorted({e.split(":", 1)[0] for e in state["live_extracts"]}))


def write_scope(ctx: RunContext, state: dict, path: Path,
                 backfill: tuple[dt.date, dt.date] | None
                 ) -> tuple[int, set[int], list[str], int]:
    """The clinician-days to rebuild, written to `path`: (rows, their buckets, the extracts
    holding events within their windows, about how many events those windows hold)."""
    lake, prev = ctx.lake, state_dir(ctx.warehouse)
    # An extract is identified by content and path: content re-homed to another path (its first
    # path was replaced) changes which file its rows are counted against.
    live_now = live_extracts(lake)
    changed = sorted({i.split(":", 1)[0]
                      for i in set(live_now).symmetric_difference(state["live_extracts"])})
    con = connect_run(ctx)
    try:
        extent_cols = ("clinician_id VARCHAR, bucket INTEGER, event_date_utc DATE, events BIGINT, "
                       "sha VARCHAR")
        live_shas = sorted({i.split(":", 1)[0] for i in live_now})
        for table, shas in (("extents_changed", changed), ("extents_live", live_shas)):
            files = [str(p) for sha in shas if (p := lake.extents_path(sha)).exists()]
            con.execute(f"create table {table} ({extent_cols})")
            if files:
                con.execute(f"insert into {table} select clinician_id, bucket, event_date_utc, "
                            "events, parse_filename(filename, true) "
                            "from read_parquet($f, filename = true)", {"f": files})
        ref = ctx.work_dir / "reference"
        for table in ("stg_roster", "stg_schedule", "stg_holidays"):
            con.execute(f"create table {table}_now as select * from read_parquet($p)",
                        {"p": str(ref / f"{table}.parquet")})
            con.execute(f"create table {table}_prev as select * from read_parquet($p)",
                        {"p": str(prev / f"{table}.parquet")})
        con.execute("attach $db as prev_pub (read_only)", {"db": str(ctx.warehouse / "wow.duckdb")})
        con.execute("create table days_prev as select clinician_id, activity_date "
                    "from prev_pub.ehr_time_by_clinician_day")
        con.execute("detach prev_pub")
        con.execute("create table scope as " + read_sql("planning/build_scope.sql"))
        if backfill:
            start, end = backfill
            con.execute(
                """insert into scope
                select distinct clinician_id, activity_date from (
                    select clinician_id, event_date_utc + offs as activity_date
                    from extents_live, (select unnest([-2, -1, 0, 1, 2]) as offs)
                    union select clinician_id, activity_date from days_prev
                ) where activity_date between $start and $end
                except select * from scope""",
                {"start": start, "end": end})
        con.execute("copy (select * from scope order by all) to $p (format parquet)",
                    {"p": str(path)})
        rows = con.execute("select count(*) from scope").fetchone()[0]
        buckets = {r[0] for r in con.execute(
            f"select distinct {BUCKET_SQL} from scope").fetchall()}
        # Only extracts with events within 3 days of a rebuilt day need reading (the same
        # window each build task applies to the rows).
        con.execute(
            """create temp table in_windows as select e.sha, e.events from extents_live e
            join (select clinician_id, min(activity_date) - 4 as first_date,
                         max(activity_date) + 4 as last_date from scope group by all) w
              on w.clinician_id = e.clinician_id
             and e.event_date_utc between w.first_date and w.last_date""")
        shas = [r[0] for r in con.execute(
            "select distinct sha from in_windows order by 1").fetchall()]
        events = con.execute("select coalesce(sum(events), 0) from in_windows").fetchone()[0]
    finally:
        con.close()
    return rows, buckets, shas, int(events)
