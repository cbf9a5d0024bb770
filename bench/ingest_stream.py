"""Ingest of one large extract: speed, and peak memory under a DuckDB memory_limit.

Writes one canonical CSV of N rows (ISO times, half with a Z offset and half naive in
America/New_York, so both the fast and the full time readings run; patient ids on every row),
then, in a fresh process per measurement, ingests it with the project's reader into an empty
lake under each memory limit, three times. The baseline, measured in the same run on the same
file, is the floor of any ingest: DuckDB's own typed CSV reader copying the file to Parquet.
Prints medians, rows per second, the ratio to the floor, and the peak RSS of the process.

    .venv/bin/python bench/ingest_stream.py [--rows 3000000] [--limits none,512MB,128MB]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import datetime as dt, json, resource, shutil, sys, time
from pathlib import Path
path, lake_dir, limit, mode = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
limit = None if limit == "none" else limit
import duckdb
if mode == "floor":
    con = duckdb.connect(config={"memory_limit": limit} if limit else {})
    spec = {"clinician_id": "VARCHAR", "event_time": "VARCHAR", "action": "VARCHAR",
            "patient_id": "VARCHAR", "workstation_id": "VARCHAR"}
    t = time.perf_counter()
    con.execute(f"copy (select * from read_csv($p, header=true, auto_detect=false, columns=$s)) "
                f"to '{lake_dir}/floor.parquet' (format parquet, compression zstd)",
                {"p": path, "s": spec})
    seconds, result = time.perf_counter() - t, {}
else:
    from wow_metrics.config import Settings
    from wow_metrics.ingest import SourceFile, _connect, _ingest_one
    from wow_metrics.ingest.formats import registry
    from wow_metrics.lake import Lake
    con = _connect(limit)
    t = time.perf_counter()
    result = _ingest_one(con, SourceFile(Path(path), "audit/canonical/big.csv",
                                         registry().get("canonical")),
                         "b" * 64, Lake(Path(lake_dir)),
                         Settings(default_timezone="America/New_York", memory_limit=limit),
                         b"benchmark-only-pseudonym-key-not-a-secret-4e8a2c6f", dt.datetime(2026, 11, 23, tzinfo=dt.UTC))
    seconds = time.perf_counter() - t
print(json.dumps({"seconds": seconds, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "rows": result.get("rows_written"), "status": result.get("status", "copied")}))
"""


def write_extract(path: Path, rows: int) -> None:
    import duckdb

    with duckdb.connect() as con:
        con.execute(f"""copy (
            select 'c' || (i % 1000) as clinician_id,
                   strftime(timestamp '2026-03-01' + to_microseconds(i * 800003),
                            '%Y-%m-%dT%H:%M:%S.%f') || case when i % 2 = 0 then 'Z' else '' end
                       as event_time,
                   'Chart opened' as action, 'ZPAT-' || (i % 99991) as patient_id,
                   'WS-' || (i % 50) as workstation_id
            from range({rows}) r(i)) to '{path}' (header)""")


def measure(path: Path, limit: str, mode: str, work: Path) -> dict:
    lake = work / f"lake-{mode}-{limit}"
    lake.mkdir(parents=True, exist_ok=True)
    out = subprocess.run([sys.executable, "-c", CHILD, str(path), str(lake), limit, mode],
                         capture_output=True, text=True, check=False)
    if out.returncode != 0:
        return {"seconds": float("nan"), "rss_mb": float("nan"), "rows": None,
                "status": "failed: " + (out.stderr.strip().splitlines() or ["?"])[-1][:120]}
    import shutil

    shutil.rmtree(lake, ignore_errors=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=3_000_000)
    parser.add_argument("--limits", default="none,512MB,128MB")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="wow-ingest-bench-") as tmp:
        work = Path(tmp)
        path = work / "big.csv"
        write_extract(path, args.rows)
        size_mb = path.stat().st_size / 1e6
        print(f"extract: {args.rows:,} rows, {size_mb:,.0f} MB of CSV")
        floor = [measure(path, "none", "floor", work) for _ in range(args.repeats)]
        floor_s = statistics.median(r["seconds"] for r in floor)
        print(f"baseline (DuckDB CSV -> Parquet copy, no limit): median {floor_s:.2f} s, "
              f"peak RSS {statistics.median(r['rss_mb'] for r in floor):.0f} MB")
        for limit in args.limits.split(","):
            runs = [measure(path, limit, "ingest", work) for _ in range(args.repeats)]
            ok = [r for r in runs if r["status"] == "ingested"]
            if len(ok) < len(runs):
                print(f"ingest, memory_limit {limit}: {runs[0]['status']}")
                continue
            med = statistics.median(r["seconds"] for r in ok)
            each = ", ".join(f"{r['seconds']:.2f}" for r in ok)
            rss = statistics.median(r["rss_mb"] for r in ok)
            print(f"ingest, memory_limit {limit:>5}: median {med:6.2f} s "
                  f"({args.rows / med / 1e6:.2f} M rows/s, {med / floor_s:.1f}x the baseline), "
                  f"peak RSS {rss:.0f} MB ({rss / size_mb:.2f}x the file), "
                  f"runs {each} s")


if __name__ == "__main__":
    main()
