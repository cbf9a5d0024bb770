"""Where the ingest spends its time: seconds per DuckDB statement (by the code line that runs
it) and the Python time between statements, over the first N extracts of a landing zone, read
on one connection: in the batches `wow run` reads them in (one pass per format), or with
--alone one extract after another.

    .venv/bin/python bench/profile_ingest.py LANDING [--extracts 20] [--threads 1] [--alone]

The lake is written to a temporary folder. Figures are read, not asserted.
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("WOW_PSEUDONYM_KEY", "benchmark-only-pseudonym-key-not-a-secret-4e8a2c6f")

from wow_metrics import ingest  # noqa: E402
from wow_metrics.config import load_settings  # noqa: E402
from wow_metrics.ingest import _connect, ingest_batch, plan_batches, plan_ingest  # noqa: E402
from wow_metrics.lake import Lake  # noqa: E402
from wow_metrics.pseudonym import key_from_env  # noqa: E402


class TimedConnection:
    """A DuckDB connection whose execute() calls are timed by the line that made them."""

    def __init__(self, con) -> None:
        self._con = con
        self.seconds: dict[str, float] = collections.defaultdict(float)
        self.calls: dict[str, int] = collections.defaultdict(int)

    def execute(self, *args, **kwargs):
        caller = sys._getframe(1)
        where = f"{Path(caller.f_code.co_filename).name}:{caller.f_lineno} {caller.f_code.co_name}"
        started = time.perf_counter()
        try:
            return self._con.execute(*args, **kwargs)
        finally:
            self.seconds[where] += time.perf_counter() - started
            self.calls[where] += 1

    def __getattr__(self, name):
        return getattr(self._con, name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("landing", type=Path)
    parser.add_argument("--extracts", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--alone", action="store_true", help="read each extract on its own")
    args = parser.parse_args()
    settings = load_settings(args.landing)
    lake = Lake(Path(tempfile.mkdtemp(prefix="wow-profile-ingest-")))
    plan = plan_ingest(args.landing, lake, settings, key_from_env(), "profile")
    pending = plan.pending[: args.extracts]
    con = TimedConnection(_connect(settings.memory_limit, args.threads))
    # Every batch's reads go through the timed connection (the one ingest_batch takes).
    ingest._local.con, ingest._local.limits = con, (settings.memory_limit, args.threads)
    settings = settings.model_copy(update={"threads": args.threads})
    batches = ([[p] for p in pending] if args.alone
               else plan_batches(pending, settings, ingest.SMALL_EXTRACT_BYTES))
    print(f"{len(batches)} batch(es) of {', '.join(str(len(b)) for b in batches)} extract(s)")
    rows = 0
    started = time.perf_counter()
    for batch in batches:
        rows += sum(r["rows_read"] or 0 for r in ingest_batch(
            batch, lake, settings, key_from_env(), dt.datetime.now(dt.UTC)))
    total = time.perf_counter() - started
    in_sql = sum(con.seconds.values())
    print(f"{len(pending)} extracts, {rows:,} rows, {total:.2f} s "
          f"({total / len(pending):.3f} s per extract, {total / rows * 1e6:.2f} us per row)")
    for where, seconds in sorted(con.seconds.items(), key=lambda kv: -kv[1]):
        print(f"  {seconds:8.2f} s {seconds / total:6.1%} {con.calls[where]:5d} calls  {where}")
    print(f"  {total - in_sql:8.2f} s {(total - in_sql) / total:6.1%}  outside DuckDB statements")


if __name__ == "__main__":
    main()
