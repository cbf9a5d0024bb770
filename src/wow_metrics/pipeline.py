"""One run: ingest what is new, build every table, audit, publish (the library behind `wow run`)."""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

from wow_metrics import gx_process
from wow_metrics.build import build_partition, load_partition_inputs
from wow_metrics.config import Settings, load_settings
from wow_metrics.faults import resource_errors
from wow_metrics.files import file_mode_umask, private_dir, remove_leftovers, secure_warehouse
from wow_metrics.ingest import (
    SMALL_EXTRACT_BYTES,
    ingest_batch,
    ingest_pending,
    ingest_workers,
    plan_batches,
    plan_ingest,
    record_ingest,
    reference_share,
)
from wow_metrics.lake import Lake
from wow_metrics.lock import warehouse_lock
from wow_metrics.planning import build_task_count, plan_build
from wow_metrics.progress import mark
from wow_metrics.pseudonym import check_key, key_from_env
from wow_metrics.publication import finish_run
from wow_metrics.reference import stage_reference
from wow_metrics.run_context import (
    BuildPlan,
    PartitionResult,
    RunContext,
    RunSummary,
    build_params,
)

log = logging.getLogger(__name__)

# The steps and types of a run, importable from here as before the split (flows, tests, bench).
__all__ = [
    "BuildPlan", "LandingError", "PartitionResult", "PurgedExtracts", "RunContext", "RunSummary",
    "build_params", "build_partition", "build_task_count", "finish_run", "ingest_batch",
    "ingest_pending",
    "load_partition_inputs", "plan_build", "plan_ingest", "purged_extracts",
    "record_ingest", "reference_beside_ingest", "run", "run_steps", "stage_reference",
    "start_run",
]


class LandingError(RuntimeError):
    """The landing folder is missing or not laid out as SPEC 1 says."""


class PurgedExtracts(LandingError):
    """A re-ingest would drop lake extracts whose files are gone from the landing zone."""

    def __init__(self, purged: list[str]):
        self.purged = purged
        shown = "\n    ".join(purged[:20]) + (f"\n    ... and {len(purged) - 20} more"
                                              if len(purged) > 20 else "")
        super().__init__(
            f"--reingest would drop {len(purged)} extract(s) the lake holds but the landing zone "
            f"no longer has (purged from the share after ingest); their rows would be lost:\n    "
            f"{shown}\n  Nothing was changed. To rebuild the tables from the lake as it is, use "
            "--full-refresh. To re-read the landing zone and drop these extracts for good, add "
            "--drop-purged-extracts.")


def run(landing: Path | str, warehouse: Path | str, *, key: bytes | None = None,
        full_refresh: bool = False, settings: Settings | None = None,
        backfill: tuple[dt.date, dt.date] | None = None, reingest: bool = False,
        drop_purged: bool = False) -> RunSummary:
    """Ingest new extracts from landing, rebuild what changed and publish warehouse/wow.duckdb.

    full_refresh rebuilds every table from the lake (the system of record: extracts purged from
    the landing zone keep their rows). reingest re-reads every extract of the landing zone into
    a new lake (after a change of default_timezone or key); it refuses, changing nothing, while
    the lake holds extracts the landing zone no longer has, unless drop_purged.
    """
    if not Path(landing).is_dir():
        raise LandingError(f"landing folder {Path(landing).absolute()} does not exist")
    settings = settings or load_settings(Path(landing))
    with file_mode_umask(settings.file_mode), \
            resource_errors(Path(warehouse), settings.memory_limit), \
            warehouse_lock(warehouse, "wow run", settings.lock_wait_seconds):
        ctx = start_run(landing, warehouse, key=key, full_refresh=full_refresh, settings=settings,
                        reingest=reingest, drop_purged=drop_purged)
        return run_steps(ctx, backfill=backfill)


def _call(fn: Callable, *args: Any) -> Any:
    return fn(*args)


def _call_each(fn: Callable, calls: list[tuple]) -> list:
    return [fn(*args) for args in calls]


def _fan_out_locally(fn: Callable, calls: list[tuple]) -> list:
    """`wow run`'s fan-out: batches of extracts are ingested side by side on threads (each
    with its own DuckDB connection and scratch folder); build tasks run one after another, each
    using every core and the whole memory_limit."""
    if fn not in (ingest_pending, ingest_batch) or len(calls) < 2:
        return _call_each(fn, calls)
    workers = ingest_workers(calls[0][2], len(calls))
    if workers == 1:
        return _call_each(fn, calls)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="wow-ingest") as pool:
        return list(pool.map(lambda args: fn(*args, workers=workers), calls))


def _start_locally(fn: Callable, *args: Any) -> Future:
    """`wow run`'s start: the step runs on a thread of its own."""
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"wow-{fn.__name__}")
    try:
        return pool.submit(fn, *args)
    finally:
        pool.shutdown(wait=False)  # the thread ends with the step


def reference_beside_ingest(settings: Settings, extracts: int) -> Settings | None:
    """The reference staging's settings when it runs while `extracts` are ingested; None when
    it runs after the ingest.

    Only beside two or more ingest workers: a single extract, or a run on one thread, keeps
    the run's limits to itself as before. The staging has one thread and the share of
    memory_limit the workers leave it (`ingest.reference_share`).
    """
    workers = ingest_workers(settings, extracts)
    if workers < 2:
        return None
    return settings.model_copy(update={"memory_limit": reference_share(settings, workers),
                                       "threads": 1})


def run_steps(ctx: RunContext, *, backfill: tuple[dt.date, dt.date] | None = None,
              step: Callable = _call, fan_out: Callable = _fan_out_locally,
              start: Callable = _start_locally) -> RunSummary:
    """Every step of a run, in order: the one sequence `wow run` and the Prefect flow share.

    `step(fn, *args)` runs one step and `fan_out(fn, [args, ...])` runs independent calls of one
    step (an extract's ingest, a partition's build) and returns their results in order; the flow
    passes task-submitting versions, `run()` threads for ingest and plain calls otherwise.
    `start(fn, *args)` starts a step that needs nothing of the steps before it and returns what
    its result() is taken from: the reference tables are staged while extracts are ingested.
    """
    started = time.perf_counter()
    phases: dict[str, float] = {}
    reference = None
    gx_process.start(ctx.run_id)  # GX's import, off this process's lock (gx_process)
    try:
        # A full disk, a read-only folder or too little memory, met in any step: one clear error.
        with resource_errors(ctx.warehouse, ctx.settings.memory_limit):
            t0 = time.perf_counter()
            plan = step(plan_ingest, ctx.landing, ctx.lake, ctx.settings, ctx.key, ctx.run_id)
            # Reference files are read from the landing zone, not the lake: staging them needs
            # no ingest, and a nightly delivery leaves a core idle while its largest extract
            # is read (bench/README.md, stop 18).
            # A night's extracts of one format are read in one pass each (ingest/batch.py).
            batches = plan_batches(plan.pending, ctx.settings, SMALL_EXTRACT_BYTES)
            beside = reference_beside_ingest(ctx.settings, len(batches))
            if beside is not None:
                reference = start(stage_reference, replace(ctx, settings=beside))
            read = fan_out(ingest_batch, [(batch, ctx.lake, ctx.settings, ctx.key, plan.now)
                                          for batch in batches])
            # (by position: two files no format reads may share a content hash)
            where = {id(p): (b, i) for b, batch in enumerate(batches) for i, p in enumerate(batch)}
            rows = [read[b][i] for b, i in map(where.get, map(id, plan.pending))]
            report = step(record_ingest, ctx.lake, plan, rows)
            phases["ingest"] = time.perf_counter() - t0
            mark("ingest.done")
            t0 = time.perf_counter()
            if reference is not None:
                staging, reference = reference, None
                staging.result()
            else:
                step(stage_reference, ctx)
            build_plan = step(plan_build, ctx, backfill)
            mark("build.planned")
            results = fan_out(build_partition, [(ctx, build_plan, i)
                                                for i in range(len(build_plan.partitions))])
            phases["build"] = time.perf_counter() - t0
            mark("build.done")
            summary = step(finish_run, ctx, build_plan, report, results, phases)
    finally:
        if reference is not None:  # ingest failed: the staging still writes to the work folder
            try:
                reference.result()
            except Exception:  # noqa: BLE001, S110 (the ingest's error is the run's error)
                pass
        gx_process.stop(ctx.run_id)  # if the gate did not use it
        shutil.rmtree(ctx.work_dir, ignore_errors=True)
    summary.seconds = time.perf_counter() - started
    mark("run.done")
    return summary


def start_run(landing: Path | str, warehouse: Path | str, *, key: bytes | None = None,
              full_refresh: bool = False, settings: Settings | None = None,
              reingest: bool = False, drop_purged: bool = False) -> RunContext:
    """Check the inputs, load settings and key, and prepare the run's scratch folder (and, on
    reingest, set the old lake aside: see run())."""
    # Absolute paths: steps may run in worker processes with another working directory.
    landing, warehouse = Path(landing).absolute(), Path(warehouse).absolute()
    if not landing.is_dir():
        raise LandingError(f"landing folder {landing} does not exist")
    settings = settings or load_settings(landing)
    key = check_key(key) if key is not None else key_from_env()
    if (not _holds_files(landing / "audit") and not _holds_files(landing / "reference")
            and not Lake(warehouse).manifest_path.exists()):
        # A mistyped --landing, or a share not mounted: publishing an empty warehouse would
        # read as an organisation without EHR work.
        raise LandingError(
            f"the landing zone {landing} is empty: no audit extracts under audit/<format>/ and "
            f"no reference files (SPEC 1), and {warehouse} has no lake: there is nothing to "
            "measure. Check --landing.")
    run_id = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:8]
    warehouse.mkdir(parents=True, exist_ok=True)
    ctx = RunContext(landing, warehouse, settings, key, run_id, full_refresh or reingest,
                     reingest)
    if reingest and ctx.lake.root.exists():
        purged = purged_extracts(landing, ctx.lake)
        if purged and not drop_purged:
            raise PurgedExtracts(purged)
        for path in purged:
            log.warning("--reingest --drop-purged-extracts: dropped %s (no longer in the "
                        "landing zone)", path)
        shutil.rmtree(ctx.lake.root)
    # Scratch and side files of earlier runs that died are of no use to anyone.
    shutil.rmtree(warehouse / ".build", ignore_errors=True)
    for path in remove_leftovers(warehouse):
        log.info("removed %s, left by a run that stopped early", path)
    # The lake and the scratch are the owner's before anything is written in them (steps on
    # other processes write under their own umask), and what an earlier version left open to
    # others is closed.
    private_dir(ctx.lake.root)
    private_dir(warehouse / ".build")
    secure_warehouse(warehouse, settings.file_mode)
    (ctx.work_dir / "tmp").mkdir(parents=True)
    return ctx


def purged_extracts(landing: Path, lake: Lake) -> list[str]:
    """Live lake extracts whose content no path of the landing zone still delivers."""
    from wow_metrics.ingest import discover

    present = {s.relative for s in discover(landing)}
    manifest = lake.load_manifest()
    delivered = {r["content_sha256"] for r in manifest if r["file_path"] in present}
    return sorted({r["file_path"] for r in manifest if r["status"] == "ingested"
                   and r["content_sha256"] not in delivered and r["file_path"] not in present})


def _holds_files(folder: Path) -> bool:
    """Whether any file (hidden ones aside) lies under folder."""
    return folder.is_dir() and any(p.is_file() and not p.name.startswith(".")
                                   for p in folder.rglob("*"))
