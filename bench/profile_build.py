"""Profile the build: seconds per sql/ model of the partition scope, on a warehouse a run filled.

    .venv/bin/python bench/profile_build.py WAREHOUSE LANDING [--explain MODEL] [--file-db] [--as-views]

Views are timed as tables here (materialised), so each line is the cost of that model alone;
the pipeline keeps them views, and their cost then shows in the table that reads them. With
--explain MODEL the EXPLAIN ANALYZE of that model is printed too.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path


def print_profile(con, sql: str) -> None:
    """Run `sql` under DuckDB's JSON profiler; print its operators (self time, rows) as a tree."""
    out = Path(tempfile.mkdtemp(prefix="wow-explain-")) / "profile.json"
    con.execute("pragma enable_profiling = 'json'")
    con.execute(f"pragma profiling_output = '{out}'")
    con.execute(sql).fetchall()
    con.execute("pragma disable_profiling")

    def walk(node: dict, depth: int) -> None:
        extra = node.get("extra_info", {})
        what = (extra.get("Join Type") or extra.get("Aggregates") or extra.get("CTE Name")
                or extra.get("Function") or extra.get("Projections") or "")
        print(f"{'  ' * depth}{node.get('name', '?')[:36]:<36}{node.get('timing', 0):>7.2f} s"
              f"{node.get('intermediate_rows', 0):>13,} rows  {str(what)[:70]}")
        for child in node.get("children", []):
            walk(child, depth + 1)

    for node in json.loads(out.read_text())["operator"]:
        walk(node, 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("warehouse", type=Path)
    parser.add_argument("landing", type=Path)
    parser.add_argument("--explain", default=None)
    parser.add_argument("--file-db", action="store_true",
                        help="build in a database file (the pipeline builds in memory)")
    parser.add_argument("--as-views", action="store_true",
                        help="keep views as views (time the pipeline's real plan)")
    args = parser.parse_args()
    os.environ.setdefault("WOW_PSEUDONYM_KEY", "benchmark-only-pseudonym-key-not-a-secret-4e8a2c6f")
    from wow_metrics import warehouse as wh
    from wow_metrics.lake import N_BUCKETS
    from wow_metrics.pipeline import BuildPlan, load_partition_inputs, stage_reference, start_run

    ctx = start_run(args.landing, Path(tempfile.mkdtemp(prefix="wow-prof-")))
    # Read the lake of the given warehouse; build in this run's scratch.
    ctx.warehouse = args.warehouse.absolute()
    stage_reference(ctx)
    db = str(ctx.work_dir / "build.duckdb") if args.file_db else ":memory:"
    con = wh.connect(db, temp_directory=ctx.work_dir / "tmp", threads=ctx.settings.threads,
                     memory_limit=ctx.settings.memory_limit)
    timings: list[tuple[str, float]] = []
    started = time.perf_counter()
    load_partition_inputs(con, ctx, BuildPlan(partitions=[list(range(N_BUCKETS))]),
                          list(range(N_BUCKETS)))
    timings.append(("inputs", time.perf_counter() - started))
    wh.bind_variables(con, ctx.params)
    for model in wh.discover_models("partition"):
        if model.name == args.explain:
            print_profile(con, wh._PARAM.sub(lambda m: f"getvariable('{m.group(1)}')", model.sql))
        if model.materialized == "view" and not args.as_views:
            model = wh.Model(model.name, model.layer, model.sql, "table", model.scope)
        started = time.perf_counter()
        wh.run_model(con, model, ctx.params)
        timings.append((model.name, time.perf_counter() - started))
    n = con.execute("select count(*) from stg_events").fetchone()[0]
    con.close()
    shutil.rmtree(ctx.work_dir, ignore_errors=True)
    total = sum(s for _, s in timings)
    for name, seconds in timings:
        print(f"{name:<34}{seconds:>8.2f} s {100 * seconds / total:>5.1f}%")
    print(f"{'total':<34}{total:>8.2f} s  {n / total:,.0f} events/s ({n:,} events)")


if __name__ == "__main__":
    main()
