"""One run: ingest what is new, build every table, audit, publish (the library behind `wow run`)."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import shutil
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from wow_metrics import warehouse as wh
from wow_metrics.config import (
    MIN_CELL_SIZE_FLOOR,
    Settings,
    load_settings,
    memory_limit_bytes,
)
from wow_metrics.faults import resource_errors
from wow_metrics.files import file_mode_umask, private_dir, remove_leftovers, secure_warehouse
from wow_metrics.ingest import (
    IngestReport,
    ingest_pending,
    ingest_workers,
    plan_ingest,
    record_ingest,
    reference_share,
)
from wow_metrics.ingest.rawcsv import UnreadableFile, load_csv, read_header
from wow_metrics.lake import BUCKET_SQL, LIVE_STATUSES, N_BUCKETS, Lake
from wow_metrics.lock import warehouse_lock
from wow_metrics.progress import mark
from wow_metrics.pseudonym import check_key, key_from_env
from wow_metrics.sqlfiles import read_sql
from wow_metrics.state import (
    code_fingerprint,
    formats_fingerprint,
    known_lake_file_rows,
    load_state,
    save_state,
    settings_fingerprint,
    state_dir,
)
from wow_metrics.validate import import_gate_in_background, validate

log = logging.getLogger(__name__)

SCHEMAS_ROOT = Path(__file__).resolve().parents[2] / "schemas"

REFERENCE_KINDS = {
    # kind: (required columns, optional columns)
    "roster": (("clinician_id",), ("department", "specialty", "role", "clinical_fte", "timezone")),
    "schedule": (("clinician_id", "appointment_id", "start_time", "duration_minutes", "status"), ()),
    "holidays": (("date",), ("name",)),
    "category_map": (("format", "action", "category"), ("report_name", "is_prescription")),
}

# The lake event columns the build reads (is_time_ambiguous stays in the lake for analysts;
# no metric uses it). The lake's layout: wow_metrics.lake.LAYOUT.
LAKE_EVENT_COLUMNS = """
    source_file VARCHAR, source_line BIGINT, format VARCHAR, clinician_id VARCHAR,
    event_at TIMESTAMPTZ, action VARCHAR, report_name VARCHAR, category_raw VARCHAR,
    patient_key UBIGINT, workstation_id VARCHAR
"""
LAKE_EVENT_NAMES = ", ".join(c.split()[0] for c in LAKE_EVENT_COLUMNS.split(","))


PARTITION_OUTPUTS = {
    # table assembled for publication: the partition model it comes from (both per clinician-day;
    # the period table is then recomputed from the assembled day table)
    "ehr_time_by_clinician_day": "ehr_time_by_clinician_day",
    "file_event_counts": "int_file_event_counts",
}
REFERENCE_OUTPUTS = ("stg_roster", "stg_schedule", "stg_holidays", "stg_category_map",
                     "raw_reference_files", "raw_reference_rejects", "metric_definitions")


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


@dataclass
class RunContext:
    """Everything a run's steps share; picklable so steps can run on remote workers."""

    landing: Path
    warehouse: Path
    settings: Settings
    key: bytes = field(repr=False)
    run_id: str = ""
    full_refresh: bool = False  # rebuild every table from the lake
    reingest: bool = False  # the lake was re-read from the landing zone this run

    @property
    def lake(self) -> Lake:
        return Lake(self.warehouse)

    @property
    def work_dir(self) -> Path:
        return self.warehouse / ".build" / self.run_id

    @property
    def params(self) -> dict[str, object]:
        return build_params(self.settings)


@dataclass
class BuildPlan:
    """What to rebuild: everything, or the clinician-days in `scope_path`; and by which tasks."""

    partitions: list[list[int]]
    full: bool = True
    reason: str = "no previous publication"
    partitions_reason: str = ""  # how the number of build tasks was chosen
    scope_path: str | None = None
    scope_rows: int = 0
    extract_shas: list[str] | None = None  # incremental: the extracts holding events in scope
    # incremental: extracts live at the last publication, whose events its gate already checked
    validated_shas: list[str] = field(default_factory=list)


@dataclass
class PartitionResult:
    """What one build task produced: Parquet outputs and any broken partition invariants."""

    index: int
    outputs: dict[str, str]
    audit_failures: dict[str, list[tuple]]
    seconds: float


@dataclass
class RunSummary:
    """What a run did, for the CLI, the flow and tests."""

    run_id: str
    warehouse: Path
    ingest: IngestReport
    seconds: float = 0.0
    phase_seconds: dict[str, float] = field(default_factory=dict)
    events_on_timeline: int = 0
    clinicians: int = 0
    day_rows: int = 0
    period_rows: int = 0
    rows_quarantined_total: int = 0
    partitions: int = 1
    partitions_reason: str = ""
    build: str = ""
    warnings: list[str] = field(default_factory=list)
    expectations_run: int = 0  # Great Expectations expectations the publication passed
    events_validated: int = 0  # lake events checked by this run's gate (new extracts only)
    # The reference files this run read: file_path, status (read | quarantined), rows_read,
    # rows_quarantined (ingest_manifest's rows for them)
    reference_files: list[dict] = field(default_factory=list)
    # The organisation's coverage: its first and last date with an event (None without events)
    coverage: tuple[dt.date, dt.date] | None = None
    gap_dates: list[dt.date] = field(default_factory=list)  # covered dates without an event

    @property
    def reference_rows_quarantined(self) -> int:
        return sum(f["rows_quarantined"] or 0 for f in self.reference_files)

    @property
    def reference_files_quarantined(self) -> list[str]:
        return [f["file_path"] for f in self.reference_files if f["status"] == "quarantined"]


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
    """`wow run`'s fan-out: extracts are ingested side by side on threads (each with its own
    DuckDB connection and scratch folder); build tasks run one after another, each using every
    core and the whole memory_limit."""
    if fn is not ingest_pending or len(calls) < 2:
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
    import_gate_in_background()  # needed by finish_run, which runs in this process
    try:
        # A full disk, a read-only folder or too little memory, met in any step: one clear error.
        with resource_errors(ctx.warehouse, ctx.settings.memory_limit):
            t0 = time.perf_counter()
            plan = step(plan_ingest, ctx.landing, ctx.lake, ctx.settings, ctx.key, ctx.run_id)
            # Reference files are read from the landing zone, not the lake: staging them needs
            # no ingest, and a nightly delivery leaves a core idle while its largest extract
            # is read (bench/README.md, stop 18).
            beside = reference_beside_ingest(ctx.settings, len(plan.pending))
            if beside is not None:
                reference = start(stage_reference, replace(ctx, settings=beside))
            rows = fan_out(ingest_pending, [(p, ctx.lake, ctx.settings, ctx.key, plan.now)
                                            for p in plan.pending])
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


def build_params(settings: Settings) -> dict[str, object]:
    """The $parameters the sql/ models take, from the settings."""
    return {
        "default_timezone": settings.default_timezone,
        "idle_threshold_us": int(round(settings.idle_threshold_seconds * 1_000_000)),
        "workday_start": settings.workday_start,
        "workday_end": settings.workday_end,
        "grace_us": int(round(settings.schedule_window_grace_minutes * 60_000_000)),
        "period": settings.period,
        # Settings made without validation (model_copy) still suppress at the floor.
        "min_cell_size": max(settings.min_cell_size, MIN_CELL_SIZE_FLOOR),
        "min_scheduled_hours": float(settings.min_scheduled_hours),
        "wow_threshold_hours_per_fte_week": float(settings.wow_threshold_hours_per_fte_week),
    }


def _connect(ctx: RunContext, path: Path | str = ":memory:", **options: Any):
    """A DuckDB connection of this run, under wow.yaml's threads and memory_limit."""
    return wh.connect(path, threads=ctx.settings.threads, memory_limit=ctx.settings.memory_limit,
                      **options)


def stage_reference(ctx: RunContext) -> None:
    """Read and check roster, schedule, holidays and action maps once, for every build task."""
    con = _connect(ctx)
    try:
        _load_reference(con, ctx.landing, ctx.run_id)
        _load_definitions(con, ctx.settings, ctx.run_id)
        wh.run_models(con, ctx.params, "reference")
        out = ctx.work_dir / "reference"
        out.mkdir(parents=True, exist_ok=True)
        for table in REFERENCE_OUTPUTS:
            con.execute(f"copy {table} to $p (format parquet)", {"p": f"{out / table}.parquet"})
    finally:
        con.close()
    mark("build.reference_staged")


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


def _bucket_groups(n: int) -> list[list[int]]:
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
        con = _connect(ctx)
        try:
            maps = con.execute(
                "select count(*) from ((select format, action_key, report_name_key, category, "
                "is_prescription from read_parquet($a) where is_effective except select format, "
                "action_key, report_name_key, category, is_prescription from read_parquet($b) "
                "where is_effective) union all (select format, action_key, report_name_key, "
                "category, is_prescription from read_parquet($b) where is_effective except select "
                "format, action_key, report_name_key, category, is_prescription from "
                "read_parquet($a) where is_effective))",
                {"a": str(ref / "stg_category_map.parquet"),
                 "b": str(state_dir(ctx.warehouse) / "stg_category_map.parquet")}).fetchone()[0]
        finally:
            con.close()
        if maps:
            reason = "the action map changed since the last publication"
    if reason:
        events = sum(r["rows_written"] or 0 for r in ctx.lake.load_manifest()
                     if r["status"] in LIVE_STATUSES)
        n, how = build_task_count(ctx.settings, events)
        return BuildPlan(partitions=_bucket_groups(n), full=True, reason=reason,
                         partitions_reason=how)

    scope_path = ctx.work_dir / "scope.parquet"
    scope_rows, buckets, shas, events = _write_scope(ctx, state, scope_path, backfill)
    n, how = build_task_count(ctx.settings, events)
    partitions = [g for g in ([b for b in grp if b in buckets] for grp in _bucket_groups(n)) if g]
    why = f"incremental: {scope_rows} clinician-day(s) touched since the last publication"
    return BuildPlan(partitions=partitions, full=False, reason=why, partitions_reason=how,
                     scope_path=str(scope_path),
                     scope_rows=scope_rows, extract_shas=shas,
                     validated_shas=sorted({e.split(":", 1)[0] for e in state["live_extracts"]}))


def _write_scope(ctx: RunContext, state: dict, path: Path,
                 backfill: tuple[dt.date, dt.date] | None
                 ) -> tuple[int, set[int], list[str], int]:
    """The clinician-days to rebuild, written to `path`: (rows, their buckets, the extracts
    holding events within their windows, about how many events those windows hold)."""
    lake, prev = ctx.lake, state_dir(ctx.warehouse)
    # An extract is identified by content and path: content re-homed to another path (its first
    # path was replaced) changes which file its rows are counted against.
    live_now = _live_extracts(lake)
    changed = sorted({i.split(":", 1)[0]
                      for i in set(live_now).symmetric_difference(state["live_extracts"])})
    con = _connect(ctx)
    try:
        extent_cols = ("clinician_id VARCHAR, bucket INTEGER, event_date_utc DATE, events BIGINT, "
                       "sha VARCHAR")
        live_shas = sorted({i.split(":", 1)[0] for i in live_now})
        for table, shas in (("extents_changed", changed), ("extents_live", live_shas)):
            files = [str(p) for sha in shas if (p := lake.extents_path(sha)).exists()]
            con.execute(f"create table {table} ({extent_cols})")
            if files:
                con.execute(f"insert into {table} select clinician_id, bucket, event_date_utc, "
                            "events, parse_filename(filename, true) "
                            "from read_parquet($f, filename = true)", {"f": files})
        ref = ctx.work_dir / "reference"
        for table in ("stg_roster", "stg_schedule", "stg_holidays"):
            con.execute(f"create table {table}_now as select * from read_parquet($p)",
                        {"p": str(ref / f"{table}.parquet")})
            con.execute(f"create table {table}_prev as select * from read_parquet($p)",
                        {"p": str(prev / f"{table}.parquet")})
        con.execute("attach $db as prev_pub (read_only)", {"db": str(ctx.warehouse / "wow.duckdb")})
        con.execute("create table days_prev as select clinician_id, activity_date "
                    "from prev_pub.ehr_time_by_clinician_day")
        con.execute("detach prev_pub")
        con.execute("create table scope as " + read_sql("planning/build_scope.sql"))
        if backfill:
            start, end = backfill
            con.execute(
                """insert into scope
                select distinct clinician_id, activity_date from (
                    select clinician_id, event_date_utc + offs as activity_date
                    from extents_live, (select unnest([-2, -1, 0, 1, 2]) as offs)
                    union select clinician_id, activity_date from days_prev
                ) where activity_date between $start and $end
                except select * from scope""",
                {"start": start, "end": end})
        con.execute("copy (select * from scope order by all) to $p (format parquet)",
                    {"p": str(path)})
        rows = con.execute("select count(*) from scope").fetchone()[0]
        buckets = {r[0] for r in con.execute(
            f"select distinct {BUCKET_SQL} from scope").fetchall()}
        # Only extracts with events within 3 days of a rebuilt day need reading (the same
        # window each build task applies to the rows).
        con.execute(
            """create temp table in_windows as select e.sha, e.events from extents_live e
            join (select clinician_id, min(activity_date) - 4 as first_date,
                         max(activity_date) + 4 as last_date from scope group by all) w
              on w.clinician_id = e.clinician_id
             and e.event_date_utc between w.first_date and w.last_date""")
        shas = [r[0] for r in con.execute(
            "select distinct sha from in_windows order by 1").fetchall()]
        events = con.execute("select coalesce(sum(events), 0) from in_windows").fetchone()[0]
    finally:
        con.close()
    return rows, buckets, shas, int(events)


def load_partition_inputs(con, ctx: RunContext, plan: BuildPlan, buckets: list[int]) -> None:
    """The inputs of one build task: its lake events (a view over the lake's Parquet, read once
    by stg_events, columns the models use only) and its reference tables."""
    wanted = None if plan.extract_shas is None else set(plan.extract_shas)
    events = [str(p) for p in ctx.lake.live_event_files(ctx.lake.load_manifest(), buckets)
              if wanted is None or p.stem in wanted]
    # An incremental build reads, per clinician in scope, the events within 3 days of the
    # days it rebuilds: enough for every interval that reaches into them.
    if plan.scope_path:
        con.execute("create table build_scope as select * from read_parquet($p)",
                    {"p": plan.scope_path})
        con.execute("create table scope_windows as select clinician_id, "
                    "min(activity_date) - 3 as first_date, max(activity_date) + 3 as last_date "
                    "from build_scope group by clinician_id")
    window_filter = (
        " where exists (select 1 from scope_windows w where w.clinician_id = e.clinician_id "
        "and cast(timezone('UTC', e.{col}) as DATE) between w.first_date and w.last_date)"
        if plan.scope_path else "")
    if events:
        # A view cannot take prepared parameters: the file list is written in as literals
        # (lake paths are the warehouse's own, hex names under folders it made).
        con.execute(f"create view lake_events as select {LAKE_EVENT_NAMES} "
                    f"from read_parquet({wh.sql_list(events)}) e"
                    + window_filter.format(col="event_at"))
    else:
        con.execute(f"create table lake_events ({LAKE_EVENT_COLUMNS})")
    mark("build.partition_read")
    ref = ctx.work_dir / "reference"
    for table in ("stg_roster", "stg_holidays", "stg_category_map"):
        con.execute(f"create table {table} as select * from read_parquet($p)",
                    {"p": str(ref / f"{table}.parquet")})
    # Schedule rows are staged globally (appointment_id replacement crosses clinicians);
    # each task keeps its own clinicians'.
    con.execute(f"create table stg_schedule as select * from (select * from read_parquet($p) "
                f"where {BUCKET_SQL} in (select unnest($buckets))) e"
                + window_filter.format(col="start_at"),
                {"p": str(ref / "stg_schedule.parquet"), "buckets": buckets})


def build_partition(ctx: RunContext, plan: BuildPlan, index: int) -> PartitionResult:
    """Build the day and period tables of one group of clinician buckets in its own database
    (in memory, spilling to the run's temp folder)."""
    started = time.perf_counter()
    buckets = plan.partitions[index]
    out = ctx.work_dir / "partitions" / f"{index:03d}"
    out.mkdir(parents=True, exist_ok=True)
    # In memory: what does not fit memory_limit spills to the run's temp folder (a database
    # file would compress and write every table of the build, which costs more than it saves).
    con = _connect(ctx, temp_directory=ctx.work_dir / "tmp")
    try:
        load_partition_inputs(con, ctx, plan, buckets)
        wh.run_models(con, ctx.params, "partition")
        failures = wh.run_audits(con, ctx.params, "partition")
        outputs = {}
        for table, model in PARTITION_OUTPUTS.items():
            path = out / f"{table}.parquet"
            keep = (" where (clinician_id, activity_date) in "
                    "(select (clinician_id, activity_date) from build_scope)"
                    if plan.scope_path else "")
            con.execute(f"copy (select * from {model}{keep}) to $p (format parquet)",
                        {"p": str(path)})
            outputs[table] = str(path)
    finally:
        con.close()
    mark("build.partition_done")
    return PartitionResult(index, outputs, failures, time.perf_counter() - started)


def finish_run(ctx: RunContext, plan: BuildPlan, report: IngestReport,
               results: list[PartitionResult], phases: dict[str, float] | None = None) -> RunSummary:
    """Assemble the partitions, build the audit-trail tables, audit, and publish atomically."""
    phases = dict(phases or {})
    t0 = time.perf_counter()
    con = _connect(ctx, ctx.work_dir / "publish.duckdb", temp_directory=ctx.work_dir / "tmp",
                   rereads_parquet=True)
    try:
        ref = ctx.work_dir / "reference"
        for table in REFERENCE_OUTPUTS:
            con.execute(f"create table {table} as select * from read_parquet($p)",
                        {"p": str(ref / f"{table}.parquet")})
        _load_lake_audit_trail(con, ctx.lake)
        _assemble(con, ctx, plan, results)
        mark("publish.assembled")
        wh.run_models(con, ctx.params, "publication")
        failures: dict[str, list[tuple]] = {}
        for result in results:
            for name, rows in result.audit_failures.items():
                failures.setdefault(name, []).extend(rows)
        failures.update(wh.run_audits(con, ctx.params, "publication"))
        phases["audit"] = time.perf_counter() - t0
        mark("publish.audited")
        t0 = time.perf_counter()
        validation = validate(con, ctx.lake, ctx.run_id, docs_dir=ctx.warehouse / "docs",
                              validated_extracts=set(plan.validated_shas),
                              known_lake_rows=(known_lake_file_rows(ctx.warehouse)
                                               if plan.validated_shas else None))
        failures.update(validation.critical)
        phases["validate"] = time.perf_counter() - t0
        mark("validate.done")
        if failures:
            raise wh.AuditFailure(failures, counts=validation.failing_counts,
                                  docs=validation.docs_index,
                                  descriptions=validation.descriptions)
        t0 = time.perf_counter()
        wh.publish(con, ctx.warehouse, comments=TABLE_COMMENTS,
                   column_comments=published_column_comments())
        save_state(con, ctx.warehouse, ctx.settings, _live_extracts(ctx.lake), ctx.run_id,
                   formats_fingerprint(ctx.landing))
        phases["publish"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        outputs_warning = _write_reader_outputs(ctx.warehouse)
        # This step may run in another process (a Dask worker) under another umask.
        secure_warehouse(ctx.warehouse, ctx.settings.file_mode)
        phases["exports"] = time.perf_counter() - t0
        summary = _summarise(con, ctx, report)
        if outputs_warning:
            summary.warnings.append(outputs_warning)
        summary.build = plan.reason
        summary.partitions_reason = plan.partitions_reason
        summary.warnings += validation.warnings
        summary.expectations_run = validation.checks_run
        summary.events_validated = validation.events_checked
    finally:
        con.close()
    summary.phase_seconds = phases
    summary.partitions = len(results)
    return summary


def _write_reader_outputs(warehouse: Path) -> str | None:
    """Leadership exports and the dashboard, from the new publication. The publication stands
    even if they fail (they can be rebuilt with `wow export` / `wow dashboard`): say so."""
    try:
        from wow_metrics.access import write_exports
        from wow_metrics.dashboard import build_dashboard

        write_exports(warehouse)
        mark("exports.written")
        build_dashboard(warehouse)
        mark("dashboard.written")
    except Exception as exc:  # noqa: BLE001 (reported as a warning, never silent)
        log.exception("exports/dashboard failed")
        return f"exports or dashboard not rebuilt ({type(exc).__name__}: {exc}); run `wow export` / `wow dashboard`"
    return None


def _live_extracts(lake: Lake) -> list[str]:
    """Every live ingested extract as 'content_sha256:file_path'."""
    return sorted(f"{r['content_sha256']}:{r['file_path']}" for r in lake.load_manifest()
                  if r["status"] == "ingested")


def _assemble(con, ctx: RunContext, plan: BuildPlan, results: list[PartitionResult]) -> None:
    """The partitions' new rows, plus (incrementally) every earlier row outside the scope."""
    files = {t: [r.outputs[t] for r in sorted(results, key=lambda r: r.index)]
             for t in PARTITION_OUTPUTS}
    if plan.scope_path:
        con.execute("create table build_scope as select * from read_parquet($p)",
                    {"p": plan.scope_path})
        con.execute("attach $db as prev_pub (read_only)", {"db": str(ctx.warehouse / "wow.duckdb")})
    for table in PARTITION_OUTPUTS:
        new_rows = "select * from read_parquet($files)" if files[table] else None
        if plan.scope_path:
            previous = (f"prev_pub.{table}" if table != "file_event_counts"
                        else "read_parquet($previous)")
            kept = (f"select * from {previous} where (clinician_id, activity_date) not in "
                    "(select (clinician_id, activity_date) from build_scope)")
            body = kept + (f" union all by name {new_rows}" if new_rows else "")
            params = {"files": files[table]} if new_rows else {}
            if table == "file_event_counts":
                params["previous"] = str(state_dir(ctx.warehouse) / "file_event_counts.parquet")
        else:
            body, params = new_rows, {"files": files[table]}
        con.execute(f"create table {table} as select * from ({body}) order by all", params)
    if plan.scope_path:
        con.execute("detach prev_pub")


def _load_lake_audit_trail(con, lake: Lake) -> None:
    manifest = lake.load_manifest()
    quarantine = [str(p) for p in lake.live_quarantine_files(manifest)]
    con.execute("create table lake_quarantine (source_file VARCHAR, source_line BIGINT, "
                "reason VARCHAR, clinician_id VARCHAR)")
    if quarantine:
        con.execute("insert into lake_quarantine select source_file, source_line, reason, "
                    "clinician_id from read_parquet($files)", {"files": quarantine})
    import pyarrow as pa

    from wow_metrics.ingest import QUARANTINE_SCHEMA
    from wow_metrics.lake import MANIFEST_SCHEMA

    unusable = pa.Table.from_pylist(lake.unusable_quarantine_rows(manifest),  # noqa: F841
                                    schema=QUARANTINE_SCHEMA)
    con.execute("insert into lake_quarantine select * from unusable")

    manifest_table = pa.Table.from_pylist(manifest, schema=MANIFEST_SCHEMA)  # noqa: F841
    con.execute("create table lake_manifest as select * from manifest_table")


def _load_reference(con, landing: Path, run_id: str) -> None:
    """Load reference files raw (all VARCHAR, with file and line) for the staging models to check."""
    con.execute("create table raw_reference_files (file_path VARCHAR, file_kind VARCHAR, "
                "content_sha256 VARCHAR, size_bytes BIGINT, status VARCHAR, message VARCHAR, "
                "run_id VARCHAR, ingested_at TIMESTAMPTZ)")
    con.execute("create table raw_reference_rejects (source_file VARCHAR, source_line BIGINT, "
                "reason VARCHAR)")
    ref = landing / "reference"
    sources = {
        "roster": [ref / "roster.csv"],
        "schedule": sorted((ref / "schedule").glob("*.csv")) if (ref / "schedule").is_dir() else [],
        "holidays": [ref / "holidays.csv"],
        "category_map": [ref / "category_map.csv"],
    }
    now = dt.datetime.now(dt.UTC)
    for kind, paths in sources.items():
        required, optional = REFERENCE_KINDS[kind]
        columns = [*required, *optional]
        col_sql = ", ".join(f'"{c}" VARCHAR' for c in columns)
        con.execute(f"create table raw_{kind} (source_file VARCHAR, source_line BIGINT, {col_sql})")
        for path in paths:
            if not path.exists():
                if kind == "roster":
                    log.warning("reference/roster.csv not found: every clinician is measured "
                                "with department 'unknown' and no FTE")
                continue
            relative = path.relative_to(landing).as_posix()
            entry = {"file_path": relative, "file_kind": f"reference_{kind}",
                     "content_sha256": _sha256(path), "size_bytes": path.stat().st_size,
                     "status": "read", "message": None, "run_id": run_id, "ingested_at": now}
            try:
                header = [c.lower() for c in read_header(path)]
                missing = [c for c in required if c not in header]
                if missing:
                    raise UnreadableFile(f"missing required column(s) {', '.join(missing)} "
                                         f"(header: {','.join(header)[:200]})")
                raw = load_csv(con, path, "_ref_rows", header, columns)
            except UnreadableFile as exc:
                reason = str(exc).replace(str(path), relative)
                message = f"{relative}: file quarantined: {reason}"
                log.error(message)
                entry.update(status="quarantined", message=message)
                con.execute("insert into raw_reference_rejects values ($f, null, $r)",
                            {"f": relative, "r": f"file quarantined: {reason}"})
                _insert_row(con, "raw_reference_files", entry)
                continue
            con.execute(f"insert into raw_{kind} select $f, * from _ref_rows", {"f": relative})
            con.execute("drop table _ref_rows")
            for line, reason in raw.rejects:
                con.execute("insert into raw_reference_rejects values ($f, $l, $r)",
                            {"f": relative, "l": line, "r": reason})
            _insert_row(con, "raw_reference_files", entry)

    # The shipped action maps are data in schemas/, checked by the same staging model.
    con.execute("create table raw_shipped_category_map as select * from raw_category_map limit 0")
    for path in sorted((SCHEMAS_ROOT / "action_maps").glob("*.csv")):
        header = [c.lower() for c in read_header(path)]
        load_csv(con, path, "_ref_rows", header, [*REFERENCE_KINDS["category_map"][0],
                                                  *REFERENCE_KINDS["category_map"][1]])
        con.execute("insert into raw_shipped_category_map select $f, * from _ref_rows",
                    {"f": f"schemas/action_maps/{path.name}"})
        con.execute("drop table _ref_rows")


def _load_definitions(con, settings: Settings, run_id: str) -> None:
    from wow_metrics.definitions import metric_definition_rows

    rows = metric_definition_rows(settings, run_id)
    con.execute("create table metric_definitions (kind VARCHAR, name VARCHAR, value VARCHAR, "
                "unit VARCHAR, definition VARCHAR, run_id VARCHAR)")
    for row in rows:
        _insert_row(con, "metric_definitions", row)


def _insert_row(con, table: str, row: dict) -> None:
    names = list(row)
    con.execute(
        f"insert into {table} ({', '.join(names)}) values ({', '.join('$' + n for n in names)})",
        row,
    )


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _summarise(con, ctx: RunContext, report: IngestReport) -> RunSummary:
    one = lambda sql: con.execute(sql).fetchone()[0]  # noqa: E731
    summary = RunSummary(run_id=ctx.run_id, warehouse=ctx.warehouse, ingest=report)
    summary.events_on_timeline = one("select coalesce(sum(rows_on_timeline), 0) from file_event_counts")
    summary.clinicians = one("select count(distinct clinician_id) from ehr_time_by_clinician_day")
    summary.day_rows = one("select count(*) from ehr_time_by_clinician_day")
    summary.period_rows = one("select count(*) from ehr_time_by_clinician_period")
    summary.rows_quarantined_total = one("select count(*) from quarantine")
    cur = con.execute("select file_path, status, rows_read, rows_quarantined from ingest_manifest "
                      "where file_kind <> 'audit_extract' order by file_path")
    names = [d[0] for d in cur.description]
    summary.reference_files = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    first, last = con.execute("select min(activity_date), max(activity_date) "
                              "from coverage_by_date").fetchone()
    summary.coverage = (first, last) if first is not None else None
    summary.gap_dates = [r[0] for r in con.execute(
        "select activity_date from coverage_by_date where is_gap order by 1").fetchall()]
    for msg in report.messages:
        summary.warnings.append(msg)
    return summary


def published_column_comments() -> dict[str, dict[str, str]]:
    """Each published column's definition and unit, from its table's contract."""
    from wow_metrics.contracts import column_comments, load_contracts

    contracts = load_contracts()
    return {t: column_comments(contracts[t]) for t in wh.PUBLISHED_TABLES if t in contracts}


TABLE_COMMENTS = {
    "ehr_time_by_clinician_day": "One row per clinician_id and local activity_date with an event "
    "or scheduled time. Active EHR minutes by category and by time of day (SPEC 5).",
    "ehr_time_by_clinician_period": "One row per clinician_id and period_start. Day metrics "
    "summed in hours, with per-8-scheduled-hour, per-FTE-week and per-scheduled-day figures (SPEC 6).",
    "ingest_manifest": "One row per input file version. rows_read = rows_loaded + "
    "rows_quarantined + rows_duplicate + rows_excluded (SPEC 9).",
    "quarantine": "One row per rejected input row (or whole file): file, line and reason.",
    "ehr_time_by_department_period": "One row per department and period_start: p25, median and "
    "p75 of the Sinsky core metrics over eligible clinicians; cells under min_cell_size "
    "clinicians suppressed (SPEC 8).",
    "efficiency_of_practice_by_period": "One row per period_start: the organisation's AMA "
    "efficiency-of-practice figures and their change from the previous period (SPEC 8).",
    "coverage_by_date": "One row per local date from the organisation's first to its last date "
    "with an event: the data's coverage (SPEC 6); is_gap marks a date without a single event "
    "(a missed extract).",
    "metric_definitions": "The settings and definitions every published figure was computed with.",
    "validation_results": "One row per contract check run on this publication: table, check, "
    "severity, success and failing rows (schemas/contracts).",
}
