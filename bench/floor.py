"""What no `wow run` can go below on this machine: the floors under the harness's phases.

    .venv/bin/python bench/floor.py LANDING [--lake LAKE] [--repeats 3] [--threads N]
        [--memory-limit 4GB] [--json]

Three figures, each the median of --repeats, on DuckDB with the run's threads and memory_limit:
  - read:  every extract of the landing zone read once (typed VARCHAR columns, as the ingest
           reads them) and counted. Nothing is parsed, checked, keyed or written.
  - write: the same rows written once to Parquet (zstd), unchanged: one file per group of
           extracts that share a header. Every ingest reads its input and writes a lake.
  - sort:  an ingested lake's events read once (clinician and time only) and put in clinician
           and time order (one `lead` window), the least any build of intervals does.

The ingest does more than `write` (it parses times, keys identifiers, quarantines, splits the
lake into clinician buckets) and the build more than `sort` (duplicates, action maps,
schedules, days), so a target below a floor is out of reach on this machine for any code that
reads the extracts into a Parquet lake and builds intervals from it (the shape this project
fixes). Figures are read, not asserted (bench/README.md).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import duckdb

from wow_metrics.ingest import discover
from wow_metrics.ingest.rawcsv import UnreadableFile, read_first_line


def extract_groups(landing: Path) -> list[dict]:
    """The landing zone's readable extracts, grouped so that one DuckDB read takes each group:
    CSV files by (header, delimiter, quote, encoding); Parquet files together."""
    groups: dict[tuple, list[str]] = defaultdict(list)
    for src in discover(landing):
        if src.format is None:
            continue
        if src.path.name.lower().endswith(".parquet"):
            groups[("parquet",)].append(str(src.path))
            continue
        try:
            header, delimiter = src.format.split_header(
                read_first_line(src.path, src.format.encoding))
        except UnreadableFile:
            continue
        groups[("csv", tuple(header), delimiter, src.format.quote,
                src.format.encoding)].append(str(src.path))
    out = []
    for key, files in sorted(groups.items()):
        if key[0] == "parquet":
            out.append({"kind": "parquet", "files": files})
        else:
            _, header, delimiter, quote, encoding = key
            out.append({"kind": "csv", "files": files, "delimiter": delimiter, "quote": quote,
                        "encoding": encoding,
                        "columns": {f"c{i}": "VARCHAR" for i in range(len(header))}})
    return out


def _scan(group: dict) -> tuple[str, dict]:
    """A DuckDB table function reading one group, and its parameters."""
    if group["kind"] == "parquet":
        return "read_parquet($files)", {"files": group["files"]}
    return ("read_csv($files, header = true, auto_detect = false, columns = $columns, "
            "delim = $delim, quote = $quote, escape = $quote, encoding = $enc, "
            "ignore_errors = true)",
            {"files": group["files"], "columns": group["columns"], "delim": group["delimiter"],
             "quote": group["quote"], "enc": group["encoding"]})


def read_floor(con, groups: list[dict]) -> int:
    """Read every extract once; return the rows read."""
    rows = 0
    for group in groups:
        scan, params = _scan(group)
        rows += con.execute(f"select count(*) from {scan}", params).fetchone()[0]
    return rows


def write_floor(con, groups: list[dict], out: Path) -> int:
    """Read every extract once and write its rows, unchanged, to Parquet; return the rows."""
    rows = 0
    for i, group in enumerate(groups):
        scan, params = _scan(group)
        target = out / f"group-{i}.parquet"
        rows += con.execute(f"copy (select * from {scan}) to '{target}' "
                            "(format parquet, compression zstd)", params).fetchone()[0]
        target.unlink()
    return rows


def sort_floor(con, lake: Path) -> int:
    """Read the lake's events (clinician and time) and order them by clinician and time once;
    return the events."""
    files = str(lake / "events" / "*" / "*.parquet")
    return con.execute(
        "select count(*), sum(epoch_us(next_at) - epoch_us(event_at)) from ("
        "  select event_at, lead(event_at) over (partition by clinician_id order by event_at)"
        "         as next_at"
        f" from read_parquet('{files}'))").fetchone()[0]


def measure_floors(landing: Path, lake: Path | None, repeats: int, threads: int | None = None,
                   memory_limit: str | None = None) -> dict:
    config: dict[str, object] = {}
    if threads:
        config["threads"] = threads
    if memory_limit:
        config["memory_limit"] = memory_limit
    scratch = Path(tempfile.mkdtemp(prefix="wow-floor-"))
    config["temp_directory"] = str(scratch / "spill")
    con = duckdb.connect(config=config)
    groups = extract_groups(landing)
    steps = {"read": lambda: read_floor(con, groups),
             "write": lambda: write_floor(con, groups, scratch)}
    if lake is not None and (lake / "events").is_dir():
        steps["sort"] = lambda: sort_floor(con, lake)
    result: dict[str, dict] = {}
    for name, step in steps.items():
        seconds, rows = [], 0
        for _ in range(repeats):
            started = time.perf_counter()
            rows = step()
            seconds.append(time.perf_counter() - started)
        result[name] = {"seconds": statistics.median(seconds), "rows": int(rows)}
    con.close()
    shutil.rmtree(scratch, ignore_errors=True)
    return result


def describe(floors: dict) -> list[str]:
    """The floors as report lines: seconds and rows per second."""
    what = {"read": "every extract read once", "write": "read once and written once to Parquet",
            "sort": "the lake read and sorted by clinician and time once"}
    return [f"  floor {name:<6}{f['seconds']:>9.2f} s{f['rows'] / f['seconds']:>14,.0f}/s  "
            f"{what[name]} ({f['rows']:,} rows)"
            for name, f in floors.items() if f["seconds"] > 0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("landing", type=Path)
    parser.add_argument("--lake", type=Path, default=None, help="an ingested lake (for `sort`)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--memory-limit", default=None)
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    args = parser.parse_args()
    floors = measure_floors(args.landing, args.lake, args.repeats, args.threads, args.memory_limit)
    print(json.dumps(floors) if args.json else "\n".join(describe(floors)))


if __name__ == "__main__":
    main()
