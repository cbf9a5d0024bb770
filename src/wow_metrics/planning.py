"""Plan a build: everything or only the clinician-days touched since the last publication, and
in how many build tasks."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from wow_metrics import warehouse as wh
from wow_metrics.config import Settings, memory_limit_bytes
from wow_metrics.lake import LIVE_STATUSES, N_BUCKETS
from wow_metrics.run_context import BuildPlan, RunContext, connect_run, live_extracts
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
            wh.run_model_file(con, "planning/action_map_changes.sql", {
                "current_map_file": str(ref / "stg_category_map.parquet"),
                "published_map_file": str(state_dir(ctx.warehouse) / "stg_category_map.parquet")})
            maps = con.execute("select count(*) from action_map_changes").fetchone()[0]
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
        live_shas = sorted({i.split(":", 1)[0] for i in live_now})
        for table, shas in (("extents_changed", changed), ("extents_live", live_shas)):
            files = [str(p) for sha in shas if (p := lake.extents_path(sha)).exists()]
            if files:
                wh.run_model_file(con, "sources/lake_extents.sql", {"extent_files": files}, table)
            else:
                wh.run_model_file(con, "sources/lake_extents_none.sql", name=table)
        ref = ctx.work_dir / "reference"
        for table in ("stg_roster", "stg_schedule", "stg_holidays"):
            wh.load_parquet(con, f"{table}_now", ref / f"{table}.parquet")
            wh.load_parquet(con, f"{table}_prev", prev / f"{table}.parquet")
        con.execute("attach $db as prev_pub (read_only)", {"db": str(ctx.warehouse / "wow.duckdb")})
        wh.run_model_file(con, "planning/days_prev.sql")
        con.execute("detach prev_pub")
        if backfill:
            wh.run_model_file(con, "planning/build_scope.sql")
            start, end = backfill
            wh.run_model_file(con, "planning/backfill_scope.sql",
                              {"backfill_start": start, "backfill_end": end}, "scope")
        else:
            wh.run_model_file(con, "planning/build_scope.sql", name="scope")
        con.execute("copy (select * from scope order by all) to $p (format parquet)",
                    {"p": str(path)})
        rows = con.execute("select count(*) from scope").fetchone()[0]
        buckets = {r[0] for r in con.execute(
            "select distinct wow_clinician_bucket(clinician_id) from scope").fetchall()}
        # Only extracts with events within 3 days of a rebuilt day need reading (the same
        # window each build task applies to the rows).
        wh.run_model_file(con, "planning/extracts_in_windows.sql")
        shas = [r[0] for r in con.execute(
            "select distinct sha from extracts_in_windows order by 1").fetchall()]
        events = con.execute("select coalesce(sum(events), 0) from extracts_in_windows").fetchone()[0]
    finally:
        con.close()
    return rows, buckets, shas, int(events)
