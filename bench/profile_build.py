"""Profile the build: seconds per sql/ model of the partition scope, on a warehouse a run filled.

    .venv/bin/python bench/profile_build.py WAREHOUSE LANDING [--explain MODEL] [--file-db]
        [--as-views] [--threads N] [--repeats N] [--sql DIR ...]

Views are timed as tables here (materialised), so each line is the cost of that model alone;
the pipeline keeps them views, and their cost then shows in the table that reads them
(--as-views times the pipeline's own plan). With --explain MODEL the EXPLAIN ANALYZE of that
model is printed too. Each --sql names a sql/ tree to run instead of the project's (say an
export of another branch's `sql/`): every repeat runs each tree in turn, in a fresh in-memory
database, so that trees measured in the same minutes share the machine's load; the medians
are printed side by side, with a digest of every table so that a faster tree is seen to build
the same rows.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
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

    profile = json.loads(out.read_text())
    print("operators of the query (seconds summed over threads)")
    for node in profile["operator"]:
        walk(node, 0)


def cpu_seconds() -> float:
    """User and system CPU seconds of this process so far (every DuckDB thread included)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def build_once(args, sql_root: Path | None) -> tuple[list[tuple[str, float, float]], dict[str, str], int]:
    """One build of the whole lake from `sql_root`: wall and CPU seconds per model, digest per
    table, events."""
    from wow_metrics import warehouse as wh
    from wow_metrics.lake import N_BUCKETS
    from wow_metrics.pipeline import BuildPlan, load_partition_inputs, stage_reference, start_run

    ctx = start_run(args.landing, Path(tempfile.mkdtemp(prefix="wow-prof-")))
    # Read the lake of the given warehouse; build in this run's scratch.
    ctx.warehouse = args.warehouse.absolute()
    stage_reference(ctx)
    db = str(ctx.work_dir / "build.duckdb") if args.file_db else ":memory:"
    con = wh.connect(db, temp_directory=ctx.work_dir / "tmp",
                     threads=args.threads or ctx.settings.threads,
                     memory_limit=ctx.settings.memory_limit)
    timings: list[tuple[str, float, float]] = []
    digests: dict[str, str] = {}
    started, cpu = time.perf_counter(), cpu_seconds()
    load_partition_inputs(con, ctx, BuildPlan(partitions=[list(range(N_BUCKETS))]),
                          list(range(N_BUCKETS)))
    timings.append(("inputs", time.perf_counter() - started, cpu_seconds() - cpu))
    wh.bind_variables(con, ctx.params)
    models = wh.discover_models("partition", **({"root": sql_root} if sql_root else {}))
    for model in models:
        if model.name == args.explain:
            print_profile(con, wh._PARAM.sub(lambda m: f"getvariable('{m.group(1)}')", model.sql))
        if model.materialized == "view" and not args.as_views:
            model = wh.Model(model.name, model.layer, model.sql, "table", model.scope)
        started, cpu = time.perf_counter(), cpu_seconds()
        wh.run_model(con, model, ctx.params)
        timings.append((model.name, time.perf_counter() - started, cpu_seconds() - cpu))
        if model.materialized == "table":
            rows, digest = con.execute(
                f"select count(*), bit_xor(hash(t)) from {model.name} t").fetchone()
            digests[model.name] = f"{rows}:{digest & 0xFFFFFFFF:08x}"
    n = con.execute("select count(*) from stg_events").fetchone()[0]
    con.close()
    shutil.rmtree(ctx.work_dir, ignore_errors=True)
    return timings, digests, n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("warehouse", type=Path)
    parser.add_argument("landing", type=Path)
    parser.add_argument("--explain", default=None)
    parser.add_argument("--file-db", action="store_true",
                        help="build in a database file (the pipeline builds in memory)")
    parser.add_argument("--as-views", action="store_true",
                        help="keep views as views (time the pipeline's real plan)")
    parser.add_argument("--threads", type=int, default=None,
                        help="DuckDB threads (default: wow.yaml's)")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--sql", type=Path, action="append", default=None,
                        help="a sql/ tree to build from (repeatable; default the project's)")
    args = parser.parse_args()
    os.environ.setdefault("WOW_PSEUDONYM_KEY", "benchmark-only-pseudonym-key-not-a-secret-4e8a2c6f")
    roots = args.sql or [None]
    runs: dict[int, list[list[tuple[str, float, float]]]] = {i: [] for i in range(len(roots))}
    digests: dict[int, dict[str, str]] = {}
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    for _ in range(args.repeats):
        for i, root in enumerate(roots):
            timings, digests[i], n = build_once(args, root)
            runs[i].append(timings)
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    for i, root in enumerate(roots):
        print(f"[{i}] {root or 'sql/'}")
    names = [name for name, _, _ in runs[0][0]]
    for i in runs:
        names += [name for name, _, _ in runs[i][0] if name not in names]

    def median(i: int, name: str, column: int) -> float | None:
        values = [row[column] for timings in runs[i] for row in timings if row[0] == name]
        return statistics.median(values) if values else None

    # Wall seconds are what a build takes; CPU seconds (every thread) are the work, and move
    # less than wall time when others share the machine.
    print(f"{'median seconds, wall / CPU':<30}"
          + "".join(f"{f'[{i}] wall':>10}{'cpu':>7}" for i in runs)
          + ("   tables" if len(roots) > 1 else ""))
    totals = {i: [0.0, 0.0] for i in runs}
    for name in names:
        cells = ""
        for i in runs:
            wall, cpu = median(i, name, 1), median(i, name, 2)
            if wall is None:
                cells += f"{'-':>10}{'-':>7}"
                continue
            totals[i][0] += wall
            totals[i][1] += cpu
            cells += f"{wall:>10.2f}{cpu:>7.2f}"
        seen = {digests[i][name] for i in runs if name in digests[i]}
        agree = "" if len(roots) == 1 or not seen else ("   same" if len(seen) == 1 else
                                                         "   DIFFER")
        print(f"{name:<30}{cells}{agree}")
    print(f"{'total':<30}" + "".join(f"{totals[i][0]:>10.2f}{totals[i][1]:>7.2f}" for i in runs))
    print(f"{'events/s (wall)':<30}" + "".join(f"{n / totals[i][0]:>17,.0f}" for i in runs)
          + f"   ({n:,} events, {args.repeats} repeat(s))")

if __name__ == "__main__":
    main()
