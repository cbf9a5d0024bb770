"""The Prefect flows (nightly, backfill) and their tasks: every task is one wow_metrics step, the
same ones `wow run` calls. Imported only by the commands that use Prefect (`wow run
--dask-address`, `wow serve`) and by the thin shells of flows/.

Ingest of each new extract and build of each clinician partition are submitted to the flow's task
runner, so they run in parallel: on threads by default, on a Dask cluster with `dask_address`
("local" for a temporary LocalCluster of two worker processes, or tcp://scheduler:8786).
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.context import FlowRunContext

from wow_metrics import ingest, pipeline
from wow_metrics.config import ConfigError, Settings, load_settings, load_settings_file
from wow_metrics.files import file_mode_umask
from wow_metrics.lock import warehouse_lock
from wow_metrics.pipeline import RunSummary
from wow_metrics.report import (
    HEADLINE_METRICS,
    coverage_line,
    format_summary,
    headline_medians,
    suppress_small_cells,
)
from wow_metrics.warehouse import AuditFailure

SUMMARY_ARTIFACT = "wow-nightly-summary"
BACKFILL_ARTIFACT = "wow-backfill-summary"
HEADLINE_ARTIFACT = "wow-headline-medians"
VALIDATION_ARTIFACT = "wow-validation-failures"
DEPLOYMENT_NAME = "wow-nightly"
FLOWS_NIGHTLY = Path(__file__).resolve().parents[2] / "flows" / "nightly.py"
DEFAULT_CRON = "0 2 * * *"
LOCAL_CLUSTER = {"n_workers": 2, "threads_per_worker": 1, "processes": True,
                 "dashboard_address": None}


def retry_on_oserror(task, task_run, state) -> bool:
    """Retry a failed task only when it failed with an OSError (a flaky share, not bad data)."""
    return isinstance(state.result(raise_on_failure=False), OSError)


# Steps are side effects on the warehouse folder: never cached, results kept in memory only.
_STEP = {"cache_policy": NO_CACHE, "persist_result": False}

start_run = task(pipeline.start_run, name="start_run", **_STEP)
plan_ingest = task(ingest.plan_ingest, name="plan_ingest", **_STEP)
ingest_pending = task(ingest.ingest_pending, name="ingest_pending",
                      task_run_name="ingest {pending.relative}", retries=2,
                      retry_delay_seconds=10, retry_condition_fn=retry_on_oserror, **_STEP)
ingest_batch = task(ingest.ingest_batch, name="ingest_batch",
                    task_run_name="ingest batch from {batch[0].relative}", retries=2,
                    retry_delay_seconds=10, retry_condition_fn=retry_on_oserror, **_STEP)
record_ingest = task(ingest.record_ingest, name="record_ingest", **_STEP)
stage_reference = task(pipeline.stage_reference, name="stage_reference", **_STEP)
plan_build = task(pipeline.plan_build, name="plan_build", **_STEP)
build_partition = task(pipeline.build_partition, name="build_partition",
                       task_run_name="build partition {index}", **_STEP)
finish_run = task(pipeline.finish_run, name="finish_run", **_STEP)


def with_partitions(settings: Settings, partitions: int) -> Settings:
    """The settings with build_partitions replaced, validated like wow.yaml's."""
    try:
        return Settings.model_validate({**settings.model_dump(), "build_partitions": partitions})
    except ValueError as exc:
        raise ConfigError(f"partitions={partitions}: {exc}") from None


def dask_task_runner(address: str):
    """A DaskTaskRunner on the scheduler at address, or on a temporary local cluster for "local"."""
    from prefect_dask import DaskTaskRunner

    if address == "local":
        return DaskTaskRunner(cluster_class="distributed.LocalCluster",
                              cluster_kwargs=dict(LOCAL_CLUSTER))
    return DaskTaskRunner(address=address)


def _on_dask() -> bool:
    context = FlowRunContext.get()
    if context is None or context.task_runner is None:
        return False
    return type(context.task_runner).__name__ == "DaskTaskRunner"


@flow(name="nightly", description="Ingest new EHR audit extracts, rebuild, audit and publish "
      "the WOW metric tables (the steps of `wow run`).")
def nightly(landing: str, warehouse: str, config: str | None = None, full_refresh: bool = False,
            dask_address: str | None = None, partitions: int | None = None) -> dict[str, Any]:
    """Run the pipeline's steps as tasks; return the RunSummary and the ids of the run's artifacts."""
    if dask_address and not _on_dask():
        # The task runner is fixed when a flow run starts: hand over to this flow on Dask.
        on_dask = nightly.with_options(task_runner=dask_task_runner(dask_address),
                                       flow_run_name=f"nightly-on-dask-{dask_address}")
        return on_dask(landing, warehouse, config=config, full_refresh=full_refresh,
                       dask_address=dask_address, partitions=partitions)
    try:
        settings = load_settings_file(config) if config else load_settings(Path(landing))
        if partitions is not None:
            settings = with_partitions(settings, partitions)
        summary = run_steps(landing, warehouse, settings=settings, full_refresh=full_refresh)
    except Exception as exc:
        create_markdown_artifact(markdown=failure_markdown(exc), key=SUMMARY_ARTIFACT,
                                 description="wow nightly run: failed")
        if isinstance(exc, AuditFailure):
            create_table_artifact(table=failure_table(exc), key=VALIDATION_ARTIFACT,
                                  description="Expectations and audits that blocked publication "
                                  f"(validation report: {exc.docs or 'not written'})")
        raise
    get_run_logger().info("%s", format_summary(summary))
    return {"summary": summary, "artifacts": publish_artifacts(summary, settings)}


_TASKS = {
    ingest.plan_ingest: plan_ingest, ingest.ingest_pending: ingest_pending,
    ingest.ingest_batch: ingest_batch,
    ingest.record_ingest: record_ingest, pipeline.stage_reference: stage_reference,
    pipeline.plan_build: plan_build, pipeline.build_partition: build_partition,
    pipeline.finish_run: finish_run,
}


def _step(fn, *args):
    return _TASKS[fn](*args)


def _fan_out(fn, calls):
    futures = [_TASKS[fn].submit(*args) for args in calls]
    return [future.result() for future in futures]


def _start(fn, *args):
    return _TASKS[fn].submit(*args)


def run_steps(landing: Path | str, warehouse: Path | str, *, settings: Settings | None = None,
              full_refresh: bool = False, backfill=None) -> RunSummary:
    """pipeline.run_steps with every step a task of the current flow; fan-outs go to its runner."""
    # The lock is held here, in the flow's own process, for the whole run (steps may run on
    # other workers); a second flow run on the same warehouse waits or fails at once.
    chosen = settings or load_settings(Path(landing))
    # Files are created owner-only (or group-readable by file_mode) by the flow's process; the
    # run also gives every file of the warehouse its mode, whatever process wrote it.
    with file_mode_umask(chosen.file_mode), \
            warehouse_lock(warehouse, "nightly flow", chosen.lock_wait_seconds):
        ctx = start_run(landing, warehouse, full_refresh=full_refresh, settings=settings)
        return pipeline.run_steps(ctx, backfill=backfill, step=_step, fan_out=_fan_out,
                                  start=_start)


def summary_markdown(summary: RunSummary) -> str:
    """The run's figures as a Markdown artifact."""
    ing = summary.ingest
    lines = [
        f"# wow nightly run {summary.run_id}",
        "",
        f"Published `{summary.warehouse / 'wow.duckdb'}` in {summary.seconds:.1f}s "
        f"({summary.partitions} build partition(s)).",
        "",
        f"Build: {summary.build or 'full'}.",
        "",
        "| | |",
        "|---|---:|",
        f"| extracts seen | {ing.files_seen:,} |",
        f"| files ingested | {ing.files_ingested:,} |",
        f"| files skipped (already ingested) | {ing.files_skipped:,} |",
        f"| files quarantined whole | {ing.files_quarantined:,} |",
        f"| rows read this run | {ing.rows_read:,} |",
        f"| rows loaded this run | {ing.rows_written:,} |",
        f"| extract rows quarantined this run | {ing.rows_quarantined:,} |",
        f"| reference files read | {len(summary.reference_files):,} |",
        f"| reference files quarantined whole | {len(summary.reference_files_quarantined):,} |",
        f"| reference rows quarantined | {summary.reference_rows_quarantined:,} |",
        f"| rows in the quarantine table | {summary.rows_quarantined_total:,} |",
        f"| clinicians measured | {summary.clinicians:,} |",
        f"| clinician-days | {summary.day_rows:,} |",
        f"| clinician-periods | {summary.period_rows:,} |",
        "",
        "Phases: " + ", ".join(f"{k} {v:.2f}s" for k, v in summary.phase_seconds.items()),
        "",
        coverage_line(summary).strip().capitalize() + ".",
        "",
    ]
    rejected = [f for f in summary.reference_files if f["rows_quarantined"] or
                f["status"] == "quarantined"]
    if rejected:
        lines += ["## Reference files with rejected rows", "", "| file | status | rows read | "
                  "rows quarantined |", "|---|---|---:|---:|"]
        lines += [f"| {f['file_path']} | {f['status']} | {f['rows_read'] or 0:,} | "
                  f"{f['rows_quarantined'] or 0:,} |" for f in rejected]
        lines.append("")
    lines += [
        f"## Warnings ({len(summary.warnings)})",
        "",
    ]
    lines += [f"- {w}" for w in summary.warnings[:50]] or ["None."]
    if len(summary.warnings) > 50:
        lines.append(f"- ... and {len(summary.warnings) - 50} more")
    return "\n".join(lines)


def failure_markdown(exc: BaseException) -> str:
    """A failed run as a Markdown artifact: the last good publication is left in place."""
    return "\n".join([
        "# wow nightly run failed",
        "",
        f"**{type(exc).__name__}**: the previous publication of wow.duckdb is unchanged.",
        "",
        "```",
        str(exc)[:5000],
        "```",
    ])


def failure_table(exc: AuditFailure) -> list[dict[str, Any]]:
    """One row per blocking check: '<table>.<check>', how many rows broke it, a few of them."""
    return [{"check": name, "failing_rows": exc.counts[name], "examples": repr(rows[:3])}
            for name, rows in exc.failures.items()]


def publish_artifacts(summary: RunSummary, settings: Settings) -> dict[str, str]:
    """Create the run's summary and headline-medians artifacts; return their ids by key."""
    ids = {SUMMARY_ARTIFACT: create_markdown_artifact(
        markdown=summary_markdown(summary), key=SUMMARY_ARTIFACT,
        description="wow nightly run: files, rows, clinicians and warnings")}
    headline = headline_medians(summary.warehouse)
    table = [{"department": r["department"], "clinicians": r["clinicians"],
              **{m: (round(r[m], 3) if r[m] is not None else None) for m in HEADLINE_METRICS},
              "is_suppressed": r["is_suppressed"], "period": headline.coverage}
             for r in suppress_small_cells(headline, settings.min_cell_size).rows]
    ids[HEADLINE_ARTIFACT] = create_table_artifact(
        table=table, key=HEADLINE_ARTIFACT,
        description=f"Medians per department, period starting {headline.period_start} "
        f"({headline.coverage}; hours per 8 scheduled hours; WOW hours per clinical-FTE week, a "
        "weekly rate over the days with data). No change is computed from a partial period. "
        "Departments with fewer than min_cell_size clinicians are suppressed.")
    return {key: str(value) for key, value in ids.items()}


def parse_range(start: str, end: str) -> tuple[dt.date, dt.date]:
    """The inclusive date range start..end, from ISO dates (YYYY-MM-DD)."""
    try:
        first, last = dt.date.fromisoformat(start), dt.date.fromisoformat(end)
    except ValueError as exc:
        raise ValueError(f"backfill dates must be YYYY-MM-DD: {exc}") from None
    if first > last:
        raise ValueError(f"backfill start {first} is after end {last}")
    return first, last


@flow(name="backfill", description="Rebuild the WOW metric tables for a range of dates.")
def backfill(landing: str, warehouse: str, start: str, end: str,
             config: str | None = None) -> dict[str, Any]:
    """Rebuild start..end (inclusive) and whatever else changed; return the summary and artifact id."""
    first, last = parse_range(start, end)
    settings = load_settings_file(config) if config else None
    summary = run_steps(Path(landing), Path(warehouse), settings=settings, backfill=(first, last))
    get_run_logger().info("backfill %s..%s: %s", first, last, summary.build)
    artifact = create_markdown_artifact(
        markdown=summary_markdown(summary) + f"\n\nBackfill of {first} to {last}.",
        key=BACKFILL_ARTIFACT, description=f"wow backfill run {first} to {last}")
    return {"summary": summary, "artifacts": {BACKFILL_ARTIFACT: str(artifact)}}


def nightly_deployment(landing: Path | str, warehouse: Path | str, *, cron: str = DEFAULT_CRON,
                       timezone: str | None = None, config: str | None = None,
                       dask_address: str | None = None, partitions: int | None = None):
    """The wow-nightly deployment: this flow on landing and warehouse, on a cron schedule.

    The schedule's time zone defaults to the settings' default_timezone (02:00 local by default).
    """
    from prefect.schedules import Cron

    if timezone is None:
        settings = load_settings_file(config) if config else load_settings(Path(landing))
        timezone = settings.default_timezone
    parameters: dict[str, Any] = {"landing": str(Path(landing).resolve()),
                                  "warehouse": str(Path(warehouse).resolve())}
    optional = {"config": str(Path(config).resolve()) if config else None,
                "dask_address": dask_address, "partitions": partitions}
    parameters.update({k: v for k, v in optional.items() if v is not None})
    deployment = nightly.to_deployment(
        name=DEPLOYMENT_NAME, schedule=Cron(cron, timezone=timezone), parameters=parameters,
        description=f"Nightly wow run of {parameters['landing']} into {parameters['warehouse']}",
        tags=["wow-metrics"])
    # The flow's published entrypoint is its shell in flows/ (as in prefect.yaml), relative to
    # the working directory as Prefect makes it, not this module.
    deployment.entrypoint = f"{os.path.relpath(FLOWS_NIGHTLY, Path.cwd())}:nightly"
    return deployment


def serve_nightly(landing: Path | str, warehouse: Path | str, *, cron: str = DEFAULT_CRON,
                  timezone: str | None = None) -> None:
    """Register the wow-nightly deployment with the Prefect API and run its flow runs until stopped."""
    from prefect import serve

    serve(nightly_deployment(landing, warehouse, cron=cron, timezone=timezone))


def run_on_dask(landing: Path | str, warehouse: Path | str, *, dask_address: str,
                full_refresh: bool = False, partitions: int | None = None) -> RunSummary:
    """Run the nightly flow once on Dask, for `wow run --dask-address`; return its summary.

    Without a configured PREFECT_API_URL a temporary local API server is started and handed to the
    Dask workers (Prefect's own ephemeral mode would start one more server in every worker).
    """
    from contextlib import ExitStack

    from prefect.settings import PREFECT_API_URL, temporary_settings

    with ExitStack() as stack:
        if not PREFECT_API_URL.value():
            from prefect.server.api.server import SubprocessASGIServer

            server = SubprocessASGIServer()
            server.start()
            stack.callback(server.stop)
            stack.callback(_drain_api_workers)  # runs first: ship the run's logs, then stop
            stack.enter_context(temporary_settings({PREFECT_API_URL: server.api_url}))
        result = nightly(str(landing), str(warehouse), full_refresh=full_refresh,
                         dask_address=dask_address, partitions=partitions)
    return result["summary"]


def _drain_api_workers() -> None:
    """Send the logs and events still queued for the API (as prefect_test_harness does)."""
    import inspect

    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker
    from prefect.utilities.asyncutils import run_coro_as_sync

    async def drain() -> None:
        try:
            result = APILogWorker.instance().drain()
            if inspect.isawaitable(result):
                await result
        except RuntimeError:  # never started
            pass
        result = EventsWorker.drain_all()
        if inspect.isawaitable(result):
            await result

    run_coro_as_sync(drain())
