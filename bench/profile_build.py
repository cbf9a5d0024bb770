"""Profile the build: seconds per sql/ model of the partition scope, on a warehouse a run filled.

    .venv/bin/python bench/profile_build.py WAREHOUSE LANDING [--explain MODEL] [--memory-db]

Views are timed as tables here (materialised), so each line is the cost of that model alone;
the pipeline keeps them views, and their cost then shows in the table that reads them. With
--explain MODEL the EXPLAIN ANALYZE of that model is printed too.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("warehouse", type=Path)
    parser.add_argument("landing", type=Path)
    parser.add_argument("--explain", default=None)
    parser.add_argument("--memory-db", action="store_true", help="build in :memory:")
    parser.add_argument("--as-views", action="store_true",
                        help="keep views as views (time the pipeline's real plan)")
    args = parser.parse_args()
    os.environ.setdefault("WOW_PSEUDONYM_KEY", "benchmark-only-key")
    from wow_metrics import warehouse as wh
    from wow_metrics.lake import N_BUCKETS
    from wow_metrics.pipeline import BuildPlan, load_partition_inputs, stage_reference, start_run

    ctx = start_run(args.landing, Path(tempfile.mkdtemp(prefix="wow-prof-")))
    # Read the lake of the given warehouse; build in this run's scratch.
    ctx.warehouse = args.warehouse.absolute()
    stage_reference(ctx)
    db = ":memory:" if args.memory_db else str(ctx.work_dir / "build.duckdb")
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
            sql = wh._PARAM.sub(lambda m: f"getvariable('{m.group(1)}')", model.sql)
            plan = con.execute("explain analyze " + sql).fetchall()
            print(plan[0][1])
        if model.materialized == "view" and not args.as_views:
            model = wh.Model(model.name, model.layer, model.sql, "table", model.scope)
        started = time.perf_counter()
        wh.run_model(con, model, ctx.params)
        timings.append((model.name, time.perf_counter() - started))
    n = con.execute("select count(*) from stg_events").fetchone()[0]
    total = sum(s for _, s in timings)
    for name, seconds in timings:
        print(f"{name:<34}{seconds:>8.2f} s {100 * seconds / total:>5.1f}%")
    print(f"{'total':<34}{total:>8.2f} s  {n / total:,.0f} events/s ({n:,} events)")


if __name__ == "__main__":
    main()
