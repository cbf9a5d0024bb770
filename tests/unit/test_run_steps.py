"""The order of a run's steps: reference tables are staged while the extracts are ingested."""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest
from conftest import SAMPLE_LANDING

from wow_metrics import pipeline
from wow_metrics.config import load_settings
from wow_metrics.lake import Lake

# Seconds a step waits for the other before the test calls them not concurrent (lowered to
# check that the tests fail on a run whose steps are one after the other).
WAIT = float(os.environ.get("WOW_TEST_STEP_WAIT", "60"))


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    return Path(shutil.copytree(SAMPLE_LANDING, tmp_path / "landing"))


def test_reference_staging_runs_while_extracts_are_ingested(landing, tmp_path, monkeypatch):
    # Each step waits for the other to have started: run one after the other, the first would
    # wait in vain and the run would publish without both flags.
    staging_started, ingest_started = threading.Event(), threading.Event()
    met = {}
    real_stage, real_ingest = pipeline.stage_reference, pipeline.ingest_batch

    def stage(ctx):
        met["staging limits"] = (ctx.settings.threads, ctx.settings.memory_limit)
        staging_started.set()
        met["staging saw ingest"] = ingest_started.wait(WAIT)
        return real_stage(ctx)

    def ingest(*args, **kwargs):
        if not ingest_started.is_set():  # the first batch waits; the others need not
            ingest_started.set()
            met["ingest saw staging"] = staging_started.wait(WAIT)
        return real_ingest(*args, **kwargs)

    monkeypatch.setattr(pipeline, "stage_reference", stage)
    monkeypatch.setattr(pipeline, "ingest_batch", ingest)
    settings = load_settings(landing).model_copy(update={"threads": 2, "memory_limit": "900MB"})
    summary = pipeline.run(landing, tmp_path / "warehouse", settings=settings)
    # Two ingest workers and the staging hold a third of memory_limit each.
    assert met == {"staging saw ingest": True, "ingest saw staging": True,
                   "staging limits": (1, "300000000B")}
    assert summary.ingest.files_ingested > 0
    assert (tmp_path / "warehouse" / "wow.duckdb").exists()


def test_a_failed_ingest_is_the_runs_error_and_waits_for_the_staging(landing, tmp_path,
                                                                     monkeypatch):
    ingest_failed, finished = threading.Event(), threading.Event()
    real_stage = pipeline.stage_reference
    work_dirs = []

    def slow_stage(ctx):
        work_dirs.append(ctx.work_dir)
        assert ingest_failed.wait(WAIT)
        real_stage(ctx)  # writes into the run's work folder after the ingest has failed
        finished.set()

    def failing_ingest(*args, **kwargs):
        ingest_failed.set()
        raise RuntimeError("planted ingest failure")

    monkeypatch.setattr(pipeline, "stage_reference", slow_stage)
    monkeypatch.setattr(pipeline, "ingest_batch", failing_ingest)
    warehouse = tmp_path / "warehouse"
    with pytest.raises(RuntimeError, match="planted ingest failure"):
        pipeline.run(landing, warehouse)
    # The run returned only after the staging finished, and then removed its work folder.
    assert finished.is_set()
    assert work_dirs and not work_dirs[0].exists()
    assert not (warehouse / "wow.duckdb").exists()


def test_a_failed_staging_is_raised_after_the_ingest_is_recorded(landing, tmp_path, monkeypatch):
    def failing_stage(ctx):
        raise OSError(28, "No space left on device (planted)")

    monkeypatch.setattr(pipeline, "stage_reference", failing_stage)
    warehouse = tmp_path / "warehouse"
    with pytest.raises(Exception, match="No space left on device"):
        pipeline.run(landing, warehouse)
    # As when the steps ran one after the other: the extracts read are in the lake and its
    # manifest (the next run does not read them again), and nothing was published.
    manifest = Lake(warehouse).load_manifest()
    extracts = list((landing / "audit").rglob("*.*"))
    assert len(manifest) == len(extracts) > 0
    assert {r["status"] for r in manifest} <= {"ingested", "quarantined", "duplicate_content"}
    assert not (warehouse / "wow.duckdb").exists()
