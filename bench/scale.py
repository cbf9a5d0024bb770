"""Scale benchmark: `wow run` end to end and by phase at 1M, 10M and 100M events, against a
plain pandas implementation of the SPEC 4-5 rules measured on the same data in the same session.

For each size it generates a landing zone with the project's generator (1,400 events per
clinician clinic-day, 90 days, as published audit-log research finds; kept in --workdir and
reused), then, --repeats times each:
  - `wow run` end to end on an empty warehouse (CSV extracts to published tables), in its own
    process; each phase (ingest, build, audit, validate, publish, exports) is timed and its peak
    RSS measured from the run's own progress markers (VmHWM, reset between phases);
  - the pandas baseline (bench/pandas_baseline.py) in its own process;
then the floors under the phases (bench/floor.py): the landing zone's extracts read once, read
and written once to Parquet, and the last run's lake read and sorted by clinician and time once.
It prints medians: wall seconds, events per second and peak RSS per phase, and every wow figure
as a ratio against the baseline; the lake's size on disk (the last run's) against the extracts'
compressed size; the machine's load before and after; `wow --help` start-up.

    .venv/bin/python bench/scale.py --sizes 1M,10M [--repeats 3] [--workdir DIR]
        [--memory-limit 4GB] [--threads N] [--no-baseline]

`make bench-scale` runs the 1M and 10M sizes. 100M needs about 4 GB of CSV (the same 180 files, larger).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from floor import describe

BENCH = Path(__file__).resolve().parent
EVENTS_PER_CLINIC_DAY = 1400
DAYS = 90
PHASE_ENDS = {  # phase: the marker that ends it (each starts where the one before ended)
    "ingest": "ingest.done",
    "build": "build.done",
    "audit": "publish.audited",
    "validate": "validate.done",
    "publish": "state.saved",
    "exports": "run.done",
}


def _size(text: str) -> int:
    scale = {"K": 1_000, "M": 1_000_000, "G": 1_000_000_000}
    return int(float(text[:-1]) * scale[text[-1].upper()]) if text[-1].isalpha() else int(text)


def _hwm_kib() -> int:
    status = Path("/proc/self/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+)", status).group(1))


def _reset_hwm() -> None:
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")


def worker(landing: Path, warehouse: Path) -> dict:
    """One `wow run` in this process, timed and measured phase by phase."""
    os.environ.setdefault("WOW_PSEUDONYM_KEY", "benchmark-only-pseudonym-key-not-a-secret-4e8a2c6f")
    from wow_metrics.pipeline import run
    from wow_metrics.progress import add_listener

    ends = {marker: phase for phase, marker in PHASE_ENDS.items()}
    phases: dict[str, dict] = {}
    last = [time.perf_counter()]

    def listener(marker: str) -> None:
        if marker in ends:
            now = time.perf_counter()
            phases[ends[marker]] = {"seconds": now - last[0], "peak_rss_mb": _hwm_kib() / 1024}
            last[0] = now
            _reset_hwm()

    add_listener(listener)
    _reset_hwm()
    started = time.perf_counter()
    summary = run(landing, warehouse)
    return {"seconds": time.perf_counter() - started, "phases": phases,
            "events": summary.ingest.rows_written, "rows_read": summary.ingest.rows_read,
            "build_tasks": summary.partitions, "build_tasks_why": summary.partitions_reason,
            "peak_rss_mb": max(p["peak_rss_mb"] for p in phases.values())}


def _in_process(args: list[str]) -> dict:
    """Run this script (or the baseline) in a fresh process; return the JSON it prints last."""
    out = subprocess.run([sys.executable, *args], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def generate(root: Path, events: int, settings: dict[str, str]) -> Path:
    """A landing zone of about `events` rows (generated once per workdir, then reused)."""
    from wow_metrics.generate import generate_landing

    landing = root / f"landing-{events}"
    done = landing / ".generated"
    if not done.exists():
        # How many rows one clinician makes in DAYS days, from a two-clinician probe.
        probe = generate_landing(root / "probe", clinicians=2, days=DAYS, seed=7,
                                 events_per_clinician_day=EVENTS_PER_CLINIC_DAY)
        per_clinician = sum(probe["event_rows"].values()) / 2
        subprocess.run(["rm", "-rf", str(root / "probe")], check=True)
        clinicians = max(1, round(events / per_clinician))
        generate_landing(landing, clinicians=clinicians, days=DAYS, seed=7,
                         events_per_clinician_day=EVENTS_PER_CLINIC_DAY)
        done.write_text("")
    config = landing / "wow.yaml"
    text = "\n".join(line for line in config.read_text().splitlines()
                     if line.split(":")[0] not in settings)
    config.write_text(text + "\n" + "".join(f"{k}: {v}\n" for k, v in settings.items()))
    return landing


def tree_bytes(folder: Path) -> int:
    """Bytes of every file under a folder (what it takes on disk, to the byte, not in blocks)."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def extracts_compressed_bytes(landing: Path) -> int:
    """The audit extracts' compressed size: a .gz or .parquet extract as delivered, a plain one
    as gzip (level 6, as the generator compresses) would make it."""
    import gzip

    total = 0
    for path in sorted((landing / "audit").rglob("*")):
        if not path.is_file() or path.name.startswith("."):
            continue
        if path.name.lower().endswith((".gz", ".parquet")):
            total += path.stat().st_size
        else:
            total += len(gzip.compress(path.read_bytes(), compresslevel=6, mtime=0))
    return total


def _median(values: list[float]) -> float:
    return statistics.median(values)


def startup_seconds(repeats: int = 5) -> float:
    wow = Path(sys.executable).with_name("wow")
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run([str(wow), "--help"], capture_output=True, check=True)
        times.append(time.perf_counter() - started)
    return _median(times)


def measure(root: Path, events: int, repeats: int, settings: dict[str, str],
            baseline: bool) -> dict:
    landing = generate(root, events, settings)
    runs = []
    for i in range(repeats):
        warehouse = root / f"warehouse-{events}-{i}"
        subprocess.run(["rm", "-rf", str(warehouse)], check=True)
        runs.append(_in_process([__file__, "--worker", str(landing), str(warehouse)]))
        if i < repeats - 1:
            subprocess.run(["rm", "-rf", str(warehouse)], check=True)
    # The floors under the phases, on the same landing zone and the last run's lake.
    floor_args = [str(BENCH / "floor.py"), str(landing), "--lake", str(warehouse / "lake"),
                  "--repeats", str(repeats), "--json"]
    for flag, value in (("--threads", settings.get("threads")),
                        ("--memory-limit", settings.get("memory_limit"))):
        if value is not None:
            floor_args += [flag, str(value)]
    floors = _in_process(floor_args)
    lake_bytes = tree_bytes(warehouse / "lake")
    subprocess.run(["rm", "-rf", str(warehouse)], check=True)
    result = {
        "events": runs[0]["events"], "rows_read": runs[0]["rows_read"],
        "build_tasks": runs[0].get("build_tasks"), "build_tasks_why": runs[0].get("build_tasks_why"),
        "seconds": _median([r["seconds"] for r in runs]),
        "peak_rss_mb": _median([r["peak_rss_mb"] for r in runs]),
        "phases": {phase: {
            "seconds": _median([r["phases"][phase]["seconds"] for r in runs]),
            "peak_rss_mb": _median([r["phases"][phase]["peak_rss_mb"] for r in runs]),
        } for phase in PHASE_ENDS},
        "floors": floors,
        "lake_bytes": lake_bytes,
        "extracts_compressed_bytes": extracts_compressed_bytes(landing),
    }
    if baseline:
        base = [_in_process([str(BENCH / "pandas_baseline.py"), "--landing", str(landing),
                             "--json"]) for _ in range(repeats)]
        result["baseline"] = {"seconds": _median([b["seconds"] for b in base]),
                              "peak_rss_mb": _median([b["peak_rss_mb"] for b in base])}
    return result


def report(size: str, r: dict) -> str:
    n = r["events"]
    base = r.get("baseline")
    lines = [f"\n{size}: {n:,} events loaded ({r['rows_read']:,} rows read); "
             f"{r.get('build_tasks')} build task(s): {r.get('build_tasks_why')}",
             f"  {'phase':<10}{'median s':>10}{'events/s':>14}{'peak RSS MB':>13}"
             + (f"{'x pandas':>10}" if base else "")]
    for phase, p in [*r["phases"].items(), ("end to end", {"seconds": r["seconds"],
                                                           "peak_rss_mb": r["peak_rss_mb"]})]:
        ratio = f"{base['seconds'] / p['seconds']:>9.1f}x" if base else ""
        lines.append(f"  {phase:<10}{p['seconds']:>10.2f}{n / p['seconds']:>14,.0f}"
                     f"{p['peak_rss_mb']:>13.0f}{ratio}")
    if base:
        lines.append(f"  {'pandas':<10}{base['seconds']:>10.2f}{n / base['seconds']:>14,.0f}"
                     f"{base['peak_rss_mb']:>13.0f}   (SPEC 4-5 day metrics only)")
    lake, extracts = r["lake_bytes"], r["extracts_compressed_bytes"]
    lines.append(f"  lake on disk {lake / 1e6:,.1f} MB = {lake / extracts:.2f}x the extracts' "
                 f"{extracts / 1e6:,.1f} MB compressed ({lake / n:.1f} bytes an event)")
    lines += describe(r.get("floors", {}))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1M,10M")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--memory-limit", default=None, help="wow.yaml memory_limit, e.g. 4GB")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--worker", nargs=2, metavar=("LANDING", "WAREHOUSE"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(Path(args.worker[0]), Path(args.worker[1]))))
        return
    root = args.workdir or Path(tempfile.mkdtemp(prefix="wow-scale-"))
    root.mkdir(parents=True, exist_ok=True)
    settings = {k: v for k, v in (("memory_limit", args.memory_limit),
                                  ("threads", args.threads)) if v is not None}
    load_before = os.getloadavg()
    results = {"machine": {"cpus": os.cpu_count(), "load_before": load_before},
               "startup_seconds": startup_seconds(), "sizes": {}}
    print(f"machine: {os.cpu_count()} CPUs, load {load_before[0]:.2f} (1 min) before; "
          f"`wow --help` {results['startup_seconds']:.2f}s (median of 5); "
          f"settings {settings or 'defaults'}; work in {root}")
    for size in args.sizes.split(","):
        result = measure(root, _size(size), args.repeats, settings, not args.no_baseline)
        results["sizes"][size] = result
        print(report(size, result), flush=True)
    results["machine"]["load_after"] = os.getloadavg()
    print(f"\nload after: {results['machine']['load_after'][0]:.2f} (1 min)")
    (root / "results.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
