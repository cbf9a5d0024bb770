"""GX in a process of its own (gx_process): imported while the run ingests, off the run's
lock; the same results as GX in place; never left behind; its failures are the run's."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import time
import uuid
from dataclasses import astuple
from pathlib import Path

import duckdb
import pytest
from conftest import SAMPLE_LANDING

from wow_metrics import gx_process
from wow_metrics.contracts import load_contracts

pytestmark = pytest.mark.gx

CONTRACTS = load_contracts()

FRESH_RUN_PROBE = """
import shutil, sys
from wow_metrics import quiet_third_parties
quiet_third_parties()
from wow_metrics import gx_process, pipeline, progress
seen = []

def listener(marker):
    if marker == "ingest.done":
        seen.append(("gx imported here", "great_expectations" in sys.modules))
        seen.append(("gx process running", [p.poll() for p in gx_process._WORKERS.values()]))
    if marker.startswith("validate.gx_"):
        seen.append((marker, "great_expectations" in sys.modules))

progress.add_listener(listener)
pipeline.run(sys.argv[1], sys.argv[2])      # a fresh process: GX in a process of its own
import wow_metrics.gx_suites                 # GX imported here (as in a test session):
pipeline.run(sys.argv[1], sys.argv[3])      # GX in place
print(seen)
"""


def _results(warehouse: Path) -> list[tuple]:
    with duckdb.connect(str(warehouse / "wow.duckdb"), read_only=True) as con:
        return con.execute("select table_name, check_name, expectation, severity, success, "
                           "failing_rows, observed_value, examples from validation_results "
                           "order by all").fetchall()


def test_a_fresh_run_imports_gx_in_its_own_process_and_gets_the_results_gx_in_place_gets(
        tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    done = subprocess.run([sys.executable, "-c", FRESH_RUN_PROBE, str(SAMPLE_LANDING),
                           str(first), str(second)], capture_output=True, text=True,
                          timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    seen = done.stdout.strip().splitlines()[-1]
    # At the end of the ingest the run's process has not imported GX, and its GX process
    # (started with the run) is alive; the first gate used it, the second ran GX in place.
    assert seen == ("[('gx imported here', False), ('gx process running', [None]), "
                    "('validate.gx_process', False), ('gx imported here', True), "
                    "('gx process running', []), ('validate.gx_in_process', True)]")
    results = _results(first)
    assert len(results) > 100 and any(r[2] != "duckdb_audit" for r in results)
    assert results == _results(second)
    for warehouse in (first, second):  # GX's Data Docs, built by whichever process ran GX
        assert list((warehouse / "docs" / "gx" / "validations").rglob("*.html"))


def _empty_table(con, table: str) -> None:
    columns = ", ".join(f'"{c.name}" {c.type}' for c in CONTRACTS[table].columns)
    con.execute(f"create table {table} ({columns})")


def _outcomes(con, run_id: str | None = None) -> list[tuple]:
    return [astuple(o) for o in gx_process.run_suites(con, CONTRACTS, ["quarantine"],
                                                      run_id=run_id)]


def test_a_gx_process_that_dies_leaves_the_gate_to_gx_in_place(caplog) -> None:
    con = duckdb.connect()
    _empty_table(con, "quarantine")
    in_place = _outcomes(con)
    assert in_place and any(o[2] != "duckdb_audit" for o in in_place)
    gx_process.start("dies", command=[sys.executable, "-c", "import sys; sys.exit(3)"])
    assert _outcomes(con, "dies") == in_place
    assert "ended without a result (exit code 3)" in caplog.text
    assert "dies" not in gx_process._WORKERS


SPLIT_TABLES = ["quarantine", "metric_definitions", "coverage_by_date", "ingest_manifest"]


def _frames() -> dict:
    con = duckdb.connect()
    for table in SPLIT_TABLES:
        _empty_table(con, table)
    return {table: con.execute(f"select * from {table}").df() for table in SPLIT_TABLES}


def _without_site(results: dict) -> dict:
    return {t: [astuple(o)[:-1] for o in rows] for t, rows in results.items()}


def test_the_tables_validated_in_two_processes_give_the_results_of_one(tmp_path: Path) -> None:
    from wow_metrics import gx_suites

    frames = _frames()
    one = gx_suites.gx_results(frames, CONTRACTS, tmp_path / "one" / "gx")
    two = gx_process._validate_in_two(frames, CONTRACTS, tmp_path / "two" / "gx")
    assert list(two) == SPLIT_TABLES and _without_site(two) == _without_site(one)
    first, second = gx_process._halves(frames, CONTRACTS)
    assert first and second and sorted(first + second) == sorted(SPLIT_TABLES)
    # Each table's checks link the site that holds its pages.
    for table, rows in two.items():
        site = "gx" if table in first else "gx-2"
        assert {o.docs for o in rows} == {site}
        assert list((tmp_path / "two" / site / "validations" / table).rglob("*.html"))


def test_a_fork_that_dies_leaves_its_tables_to_the_other(tmp_path: Path, monkeypatch) -> None:
    from wow_metrics import gx_suites

    frames = _frames()
    one = gx_suites.gx_results(frames, CONTRACTS, None)
    parent, real = os.getpid(), gx_suites.gx_results

    def dies_in_the_fork(*args, **kwargs):
        if os.getpid() != parent:
            os._exit(3)
        return real(*args, **kwargs)

    monkeypatch.setattr(gx_suites, "gx_results", dies_in_the_fork)
    two = gx_process._validate_in_two(frames, CONTRACTS, tmp_path / "gx")
    assert _without_site(two) == _without_site(one)
    _, second = gx_process._halves(frames, CONTRACTS)
    assert list((tmp_path / "gx-2" / "validations" / second[0]).rglob("*.html"))


ERROR_REPLY = """
import os, pickle, sys
pickle.load(sys.stdin.buffer)
pickle.dump(("error", OSError(28, "No space left on device", "/w/docs.building/gx")),
            sys.stdout.buffer)
"""


def test_an_error_gx_raises_in_its_process_is_raised_in_the_run() -> None:
    # A full disk met while GX writes its Data Docs is the run's full disk (faults.py turns it
    # into the one clear message), not a gate that quietly passes.
    con = duckdb.connect()
    _empty_table(con, "quarantine")
    gx_process.start("full", command=[sys.executable, "-c", ERROR_REPLY])
    with pytest.raises(OSError) as raised:
        _outcomes(con, "full")
    assert raised.value.errno == errno.ENOSPC and raised.value.filename == "/w/docs.building/gx"


def _tagged(tag: str) -> list[int]:
    """Processes whose environment holds WOW_TEST_TAG=tag."""
    found = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if f"WOW_TEST_TAG={tag}".encode() in environ.read_bytes().split(b"\0"):
                found.append(int(environ.parent.name))
        except OSError:
            continue
    return found


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs /proc (Linux)")
def test_a_run_killed_before_its_gate_leaves_no_gx_process(tmp_path: Path) -> None:
    tag = uuid.uuid4().hex
    env = {**os.environ, "WOW_TEST_TAG": tag, "WOW_KILL_AT": "build.planned"}
    done = subprocess.run([sys.executable, "-m", "wow_metrics.cli", "run", "--landing",
                           str(SAMPLE_LANDING), "--warehouse", str(tmp_path / "w")],
                          env=env, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == -9, done.stderr[-2000:]
    deadline = time.monotonic() + 60  # it may still be importing GX; then it reads EOF and ends
    while _tagged(tag) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _tagged(tag) == []


def test_a_run_that_stops_before_its_gate_ends_its_gx_process_at_once() -> None:
    # pipeline.run_steps calls stop() in its `finally`: a run that failed before its gate
    # does not wait for its GX process to finish importing.
    gx_process.start("early", command=[sys.executable, "-c", "import time; time.sleep(60)"])
    proc = gx_process._WORKERS["early"]
    started = time.monotonic()
    gx_process.stop("early")
    assert proc.poll() is not None and time.monotonic() - started < 10
    assert "early" not in gx_process._WORKERS


def test_the_process_wow_run_starts_before_its_run_is_the_run_s_own() -> None:
    sleeper = [sys.executable, "-c", "import time; time.sleep(60)"]
    gx_process.start(None, command=sleeper)  # `wow run`, before it imports the pipeline
    spare = gx_process._WORKERS[None]
    gx_process.start("taken", command=sleeper)  # the run: takes it, starts no second one
    try:
        assert gx_process._WORKERS == {"taken": spare}
    finally:
        gx_process.stop("taken")
        gx_process.stop(None)
    assert spare.poll() is not None and gx_process._WORKERS == {}


def test_a_gate_that_fails_while_gx_validates_ends_the_gx_process(monkeypatch) -> None:
    con = duckdb.connect()
    _empty_table(con, "quarantine")
    gx_process.start("fails", command=[sys.executable, "-c", "import time; time.sleep(60)"])
    proc = gx_process._WORKERS["fails"]

    def broken_audits(con, contract):
        raise RuntimeError("the connection went away")

    monkeypatch.setattr(gx_process, "audits_for", broken_audits)
    with pytest.raises(RuntimeError, match="went away"):
        _outcomes(con, "fails")
    assert proc.poll() is not None and "fails" not in gx_process._WORKERS
