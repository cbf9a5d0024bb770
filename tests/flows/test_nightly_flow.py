"""The Prefect flows: same tables as `wow run`, incremental, artifacts, Dask, deployment schedule."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import duckdb
import pytest
from conftest import REPO_ROOT, SAMPLE_LANDING

from wow_metrics.config import ConfigError, Settings
from wow_metrics.digest import table_digests
from wow_metrics.pipeline import LandingError, run

if str(REPO_ROOT) not in sys.path:  # flows/ lives beside src/, not in the installed package
    sys.path.insert(0, str(REPO_ROOT))

from flows.backfill import backfill, parse_range  # noqa: E402
from flows.nightly import (  # noqa: E402
    HEADLINE_ARTIFACT,
    SUMMARY_ARTIFACT,
    VALIDATION_ARTIFACT,
    load_settings_file,
    nightly,
    nightly_deployment,
    retry_on_oserror,
)

pytestmark = pytest.mark.gx  # end to end: the gate runs Great Expectations

COMPARED = {
    "ehr_time_by_clinician_day": "select * from ehr_time_by_clinician_day order by all",
    "ehr_time_by_clinician_period": "select * from ehr_time_by_clinician_period order by all",
    "ingest_manifest": "select file_path, file_kind, status, rows_read, rows_loaded, "
    "rows_quarantined, rows_duplicate, rows_excluded from ingest_manifest order by all",
    "quarantine": "select * from quarantine order by all",
}


def tables(warehouse: Path) -> dict[str, list[tuple]]:
    with duckdb.connect(str(warehouse / "wow.duckdb"), read_only=True) as con:
        return {name: con.execute(sql).fetchall() for name, sql in COMPARED.items()}


@pytest.fixture(scope="module")
def harness():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        yield


@pytest.fixture(scope="module")
def landing(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("nightly") / "landing"
    shutil.copytree(SAMPLE_LANDING, root)
    return root


@pytest.fixture(scope="module")
def by_run(landing: Path, tmp_path_factory) -> Path:
    """The warehouse `wow run` (pipeline.run, in this process) publishes from the landing zone."""
    warehouse = tmp_path_factory.mktemp("by_run") / "warehouse"
    run(landing, warehouse)
    return warehouse


@pytest.fixture(scope="module")
def expected(by_run: Path) -> dict[str, list[tuple]]:
    return tables(by_run)


@pytest.fixture(scope="module")
def first_run(harness, landing: Path, tmp_path_factory):
    warehouse = tmp_path_factory.mktemp("by_flow") / "warehouse"
    state = nightly(str(landing), str(warehouse), return_state=True)
    assert state.is_completed(), state
    return warehouse, state.state_details.flow_run_id, state.result()


def test_flow_publishes_the_same_tables_as_wow_run(first_run, expected) -> None:
    warehouse, _, result = first_run
    assert tables(warehouse) == expected
    summary = result["summary"]
    assert summary.ingest.files_ingested == summary.ingest.files_seen > 50
    assert summary.clinicians == 12
    assert not (warehouse / ".build").exists() or not any((warehouse / ".build").iterdir())


def test_second_flow_run_ingests_nothing_and_changes_nothing(first_run, landing: Path) -> None:
    warehouse, _, _ = first_run
    before = tables(warehouse)
    summary = nightly(str(landing), str(warehouse))["summary"]
    assert summary.ingest.files_ingested == 0
    assert summary.ingest.rows_read == 0
    assert summary.ingest.files_skipped == summary.ingest.files_seen
    assert tables(warehouse) == before


def test_flow_run_creates_summary_and_headline_artifacts(first_run) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    _, flow_run_id, result = first_run
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(artifact_filter=ArtifactFilter(
            flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id])))
    by_key = {a.key: a for a in artifacts}
    assert set(by_key) == {SUMMARY_ARTIFACT, HEADLINE_ARTIFACT}
    assert result["artifacts"] == {k: str(a.id) for k, a in by_key.items()}

    summary = by_key[SUMMARY_ARTIFACT]
    assert summary.type == "markdown"
    ing = result["summary"].ingest
    assert f"| files ingested | {ing.files_ingested:,} |" in summary.data
    assert "| clinicians measured | 12 |" in summary.data
    assert "C0012" in summary.data  # the warning about the clinician without a roster row

    import json

    headline = by_key[HEADLINE_ARTIFACT]
    assert headline.type == "table"
    rows = {r["department"]: r for r in json.loads(headline.data)}
    assert set(rows) == {"Cardiology", "Family Medicine", "Internal Medicine", "Pediatrics",
                         "unknown"}
    # min_cell_size 5: only Family Medicine (6 clinicians) is shown; smaller cells are blanked.
    assert rows["Family Medicine"]["is_suppressed"] is False
    assert rows["Family Medicine"]["wow8"] > 0
    assert rows["Pediatrics"]["is_suppressed"] is True and rows["Pediatrics"]["wow8"] is None


def test_flow_on_a_local_dask_cluster_gives_byte_identical_tables(harness, landing: Path,
                                                                   by_run: Path,
                                                                   tmp_path: Path) -> None:
    """Four build tasks on Dask workers publish what one in-process task publishes: every
    table, value for value and row for row (determinism across Dask partitioning)."""
    warehouse = tmp_path / "warehouse"
    result = nightly(str(landing), str(warehouse), dask_address="local", partitions=4)
    assert result["summary"].partitions == 4
    assert table_digests(warehouse / "wow.duckdb") == table_digests(by_run / "wow.duckdb")


def test_failed_run_reports_and_raises(harness, tmp_path: Path) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    state = nightly(str(tmp_path / "missing"), str(tmp_path / "warehouse"), return_state=True)
    assert state.is_failed()
    with pytest.raises(LandingError):
        state.result()
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(artifact_filter=ArtifactFilter(
            flow_run_id=ArtifactFilterFlowRunId(any_=[state.state_details.flow_run_id])))
    [report] = [a for a in artifacts if a.key]  # Prefect adds an unkeyed one for the exception
    assert report.key == SUMMARY_ARTIFACT and "LandingError" in report.data


def test_blocked_publication_is_readable_in_the_flow_run(harness, landing: Path, tmp_path: Path,
                                                         monkeypatch) -> None:
    """A corrupted table fails the flow run; its state and artifacts name the expectation."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    from wow_metrics import publication
    from wow_metrics.warehouse import AuditFailure

    real_validate = publication.validate

    def corrupt_then_validate(con, *args, **kwargs):
        con.execute("update ehr_time_by_clinician_day set wow_minutes = ehr_minutes + 5 "
                    "where rowid = (select min(rowid) from ehr_time_by_clinician_day)")
        return real_validate(con, *args, **kwargs)

    monkeypatch.setattr(publication, "validate", corrupt_then_validate)
    warehouse = tmp_path / "warehouse"
    state = nightly(str(landing), str(warehouse), return_state=True)
    assert state.is_failed()
    assert "ehr_time_by_clinician_day.parts_within_ehr" in state.message
    with pytest.raises(AuditFailure):
        state.result()
    assert not (warehouse / "wow.duckdb").exists()  # nothing was published
    assert (warehouse / "docs" / "index.html").is_file()
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(artifact_filter=ArtifactFilter(
            flow_run_id=ArtifactFilterFlowRunId(any_=[state.state_details.flow_run_id])))
    by_key = {a.key: a for a in artifacts if a.key}
    assert "parts_within_ehr" in by_key[SUMMARY_ARTIFACT].data
    table = by_key[VALIDATION_ARTIFACT].data
    assert "ehr_time_by_clinician_day.parts_within_ehr" in table
    assert "ehr_time_by_clinician_day.wow_is_ehr_minus_in_schedule" in table


def test_ingest_retries_on_oserror_only(harness) -> None:
    from prefect import flow, task

    calls: list[str] = []

    @task(retries=2, retry_delay_seconds=0, retry_condition_fn=retry_on_oserror)
    def flaky(error: type[Exception]) -> str:
        calls.append(error.__name__)
        if len(calls) < 3:
            raise error("boom")
        return "ok"

    @flow
    def attempt(error: type[Exception]) -> str:
        return flaky(error)

    assert attempt(OSError) == "ok" and calls == ["OSError"] * 3
    calls.clear()
    with pytest.raises(ValueError):
        attempt(ValueError)
    assert calls == ["ValueError"]

    from flows.nightly import ingest_pending

    assert ingest_pending.retries == 2 and ingest_pending.retry_condition_fn is retry_on_oserror


def test_served_deployment_runs_nightly_at_two_in_the_landing_time_zone(harness,
                                                                       tmp_path: Path) -> None:
    deployment = nightly_deployment(SAMPLE_LANDING, tmp_path / "warehouse")
    assert deployment.name == "wow-nightly"
    assert deployment.entrypoint.endswith("flows/nightly.py:nightly")
    assert deployment.parameters == {"landing": str(SAMPLE_LANDING.resolve()),
                                     "warehouse": str((tmp_path / "warehouse").resolve())}
    [schedule] = deployment.schedules
    assert schedule.schedule.cron == "0 2 * * *"
    assert schedule.schedule.timezone == "America/New_York"  # data/sample/wow.yaml

    other = nightly_deployment(SAMPLE_LANDING, tmp_path, cron="30 1 * * 1-5", timezone="UTC",
                               partitions=4)
    assert other.schedules[0].schedule.cron == "30 1 * * 1-5"
    assert other.schedules[0].schedule.timezone == "UTC"
    assert other.parameters["partitions"] == 4


def test_config_file_overrides_and_is_checked_like_wow_yaml(tmp_path: Path) -> None:
    path = tmp_path / "nightly-settings.yaml"
    path.write_text("default_timezone: Europe/Paris\nidle_threshold_seconds: 120\n")
    assert load_settings_file(path) == Settings(default_timezone="Europe/Paris",
                                                idle_threshold_seconds=120)
    path.write_text("idle_treshold_seconds: 120\n")
    with pytest.raises(ConfigError, match=r"nightly-settings\.yaml: idle_treshold_seconds: unknown key"):
        load_settings_file(path)
    with pytest.raises(ConfigError, match="not found"):
        load_settings_file(tmp_path / "absent.yaml")


def test_backfill_flow_runs_the_library_run(first_run, landing: Path) -> None:
    warehouse, _, _ = first_run
    before = tables(warehouse)
    result = backfill(str(landing), str(warehouse), "2026-03-01", "2026-03-07")
    assert result["summary"].ingest.files_ingested == 0
    assert tables(warehouse) == before
    assert parse_range("2026-03-01", "2026-03-01")[0].isoformat() == "2026-03-01"
    with pytest.raises(ValueError, match="after"):
        parse_range("2026-03-08", "2026-03-01")


def test_flow_refuses_a_warehouse_another_run_is_writing(harness, landing, tmp_path):
    from wow_metrics.lock import WarehouseBusy, warehouse_lock

    warehouse = tmp_path / "busy-warehouse"
    with warehouse_lock(warehouse, "wow run"), pytest.raises(WarehouseBusy, match="'wow run'"):
        nightly(str(landing), str(warehouse))
    assert not (warehouse / "wow.duckdb").exists()
