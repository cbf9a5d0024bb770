"""Cost of one nightly increment against a full rebuild, on a 90-day warehouse.

Generates a synthetic landing zone (the project's generator), publishes it without its last
night, then measures, three times each, on the same machine in the same session:
  - increment: the last night's extracts arrive; `run` ingests them and rebuilds what they touch;
  - full build: the same final warehouse rebuilt from the ingested lake (no re-ingest);
  - full refresh: everything re-ingested and rebuilt from scratch.
Prints medians and the increment's share of each full figure.

    .venv/bin/python bench/nightly_increment.py [--clinicians 100] [--days 90] [--workdir DIR]

It also prints the publication gate's (validation's) share of each kind of run. For the 10M-event
figure of bench/README.md (12.2M events on the timelines, 158 clinicians with day rows), a copy of
the 10M landing zone of scale.py was used: --workdir DIR with it as DIR/landing, --repeats 3.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("WOW_PSEUDONYM_KEY", "benchmark-only-pseudonym-key-not-a-secret-4e8a2c6f")
os.environ.setdefault("DO_NOT_TRACK", "1")

from wow_metrics.generate import generate_landing  # noqa: E402
from wow_metrics.pipeline import run  # noqa: E402
from wow_metrics.state import state_dir  # noqa: E402


def _timed(fn) -> tuple[float, object]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clinicians", type=int, default=100)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--increment-only", action="store_true",
                        help="measure the nightly increment only (no full build or refresh)")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="keep the work here; a landing zone already generated there is reused")
    args = parser.parse_args()
    root = args.workdir or Path(tempfile.mkdtemp(prefix="wow-bench-"))
    landing, held = root / "landing", root / "held"
    if held.exists():  # an earlier run with this workdir: put its held-back night back
        for path in held.rglob("*.*"):
            target = landing / path.relative_to(held)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(path, target)
        shutil.rmtree(held)
    for stale in ("base", "inc-0", "inc-1", "inc-2", "inc-3", "inc-4"):
        shutil.rmtree(root / stale, ignore_errors=True)
    if not (landing / "wow.yaml").exists():
        print(f"generating {args.clinicians} clinicians x {args.days} days in {root} ...", flush=True)
        info = generate_landing(landing, clinicians=args.clinicians, days=args.days, seed=42)
        print(f"  {info}")

    # Hold back the latest night of typical size (the generator's last file only holds events
    # spilling past the range, and weekends are light).
    sizes: dict[str, int] = {}
    for path in landing.glob("audit/*/*/*/*"):
        night = path.name.split("_")[-1].split(".")[0]
        sizes[night] = sizes.get(night, 0) + path.stat().st_size
    typical = statistics.median(sizes.values())
    last_night = max(n for n, size in sizes.items() if size >= typical)
    tonight = [p for p in landing.glob("audit/*/*/*/*")
               if p.name.split("_")[-1].split(".")[0] == last_night]
    for path in tonight:
        target = held / path.relative_to(landing)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(path, target)

    gx_import = float(subprocess.run(
        [sys.executable, "-c", "import time; t = time.perf_counter(); "
         "import wow_metrics.gx_suites; print(time.perf_counter() - t)"],
        capture_output=True, text=True, check=True).stdout)
    base = root / "base"
    seconds, summary = _timed(lambda: run(landing, base))
    print(f"baseline warehouse (all but the last night): {seconds:.1f}s, "
          f"{summary.events_on_timeline:,} events, {summary.period_rows} clinician-periods")

    increments, summaries = [], []
    for i in range(args.repeats):
        wh = root / f"inc-{i}"
        shutil.rmtree(wh, ignore_errors=True)
        shutil.copytree(base, wh)
        for path in tonight:
            target = landing / path.relative_to(landing)
            src = held / path.relative_to(landing)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target)
        seconds, summary = _timed(lambda wh=wh: run(landing, wh))
        increments.append(seconds)
        summaries.append(summary)
        if i < args.repeats - 1:
            for path in tonight:
                (landing / path.relative_to(landing)).unlink()

    s = summaries[0]
    inc = statistics.median(increments)
    gate = statistics.median(r.phase_seconds["validate"] for r in summaries)
    print()
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
    print(f"warehouse: {s.events_on_timeline:,} events on timelines, {s.clinicians} clinicians, "
          f"{s.day_rows:,} clinician-days, {args.days} days")
    print(f"increment: night {last_night}, {len(tonight)} extract(s), "
          f"{s.ingest.rows_written:,} rows; {s.build}")
    print("  phases of the first increment: "
          + ", ".join(f"{k} {v:.2f}s" for k, v in s.phase_seconds.items()))
    print(f"nightly increment     median {inc:7.2f}s  runs {[round(x, 2) for x in increments]}")
    print(f"validation in increment median {gate:6.2f}s of {inc:7.2f}s = {gate / inc:6.1%} "
          f"({s.expectations_run} checks, {s.events_validated:,} new events checked)")
    # This process never imports GX: each run's gate imports it in a process of its own
    # (gx_process), started with the run, as a nightly `wow run` does.
    print(f"importing Great Expectations (in each run's GX process, beside the run): "
          f"{gx_import:.2f}s alone")
    if args.increment_only:
        return

    final = root / "inc-0"
    full_builds, full_summaries = [], []
    for _ in range(args.repeats):
        shutil.rmtree(state_dir(final), ignore_errors=True)  # forget what was built: rebuild all
        seconds, summary = _timed(lambda: run(landing, final))
        # A full build: with the record of what was built gone, nothing is trusted.
        assert not summary.build.startswith("incremental"), summary.build
        full_builds.append(seconds)
        full_summaries.append(summary)

    refreshes, refresh_summaries = [], []
    for i in range(args.repeats):
        seconds, summary = _timed(lambda i=i: run(landing, root / f"refresh-{i}", full_refresh=True))
        refreshes.append(seconds)
        refresh_summaries.append(summary)
        shutil.rmtree(root / f"refresh-{i}", ignore_errors=True)

    build, refresh = (statistics.median(x) for x in (full_builds, refreshes))
    print(f"full build (no ingest) median {build:7.2f}s  runs {[round(x, 2) for x in full_builds]}")
    print(f"full refresh           median {refresh:7.2f}s  runs {[round(x, 2) for x in refreshes]}")
    print(f"increment / full build   = {inc / build:6.1%}")
    print(f"increment / full refresh = {inc / refresh:6.1%}")
    # The publication gate (GX suites from the contracts, DuckDB audits) inside each run; GX's
    # import is paid by every run, in its GX process.
    for label, runs in (("full build", full_summaries), ("full refresh", refresh_summaries)):
        gate = statistics.median(r.phase_seconds["validate"] for r in runs)
        whole = statistics.median(r.seconds for r in runs)
        print(f"validation in {label:<12} median {gate:6.2f}s of {whole:7.2f}s = {gate / whole:6.1%}")
    if args.workdir is None:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
