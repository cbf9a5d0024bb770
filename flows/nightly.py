"""The nightly run as a Prefect flow: a shell over `wow_metrics.orchestration`, where the flow,
its tasks (each one wow_metrics step, the same ones `wow run` calls) and its artifacts live.

The deployment entrypoint `flows/nightly.py:nightly` (prefect.yaml, `wow serve`) loads it from here.
"""

from wow_metrics.orchestration import (
    DEFAULT_CRON,
    DEPLOYMENT_NAME,
    HEADLINE_ARTIFACT,
    LOCAL_CLUSTER,
    SUMMARY_ARTIFACT,
    VALIDATION_ARTIFACT,
    build_partition,
    dask_task_runner,
    failure_markdown,
    failure_table,
    finish_run,
    ingest_pending,
    load_settings,
    load_settings_file,
    nightly,
    nightly_deployment,
    plan_build,
    plan_ingest,
    publish_artifacts,
    record_ingest,
    retry_on_oserror,
    run_on_dask,
    run_steps,
    serve_nightly,
    stage_reference,
    start_run,
    summary_markdown,
    with_partitions,
)

__all__ = [
    "DEFAULT_CRON", "DEPLOYMENT_NAME", "HEADLINE_ARTIFACT", "LOCAL_CLUSTER", "SUMMARY_ARTIFACT",
    "VALIDATION_ARTIFACT", "build_partition", "dask_task_runner", "failure_markdown",
    "failure_table", "finish_run", "ingest_pending", "load_settings", "load_settings_file",
    "nightly", "nightly_deployment", "plan_build", "plan_ingest", "publish_artifacts",
    "record_ingest", "retry_on_oserror", "run_on_dask", "run_steps", "serve_nightly",
    "stage_reference", "start_run", "summary_markdown", "with_partitions",
]
