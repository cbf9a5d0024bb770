"""SPEC 7 end to end: patient and encounter ids written into every kind of input, good rows and
bad, never appear in anything a run produces: Parquet, DuckDB, CSV, HTML, logs, Prefect's store.
Nor does the pseudonym key, or a cheap fingerprint of it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from conftest import REPO_ROOT

from wow_metrics.pseudonym import pseudonymize

pytestmark = pytest.mark.gx  # end to end: the gate runs Great Expectations

EXAMPLE_LANDING = REPO_ROOT / "data" / "examples" / "example_ward_audit"

# Synthetic ids shaped like real MRNs, FINs and CSNs; none occurs anywhere else in a run.
PATIENTS = ["QX-PAT-880011", "QX-PAT-880022", "QX-PAT-880033", "QX-PAT-880044", "QX-PAT-880055",
            "QX-PAT-880066", "QX-PAT-880077", "QX-PAT-880088"]
ENCOUNTERS = ["9902718800112", "9902718800223", "9902718800334"]
# The pseudonym key, and the unsalted fingerprint of it lakes recorded before issue 22: never
# written down anywhere (the lake keeps only a salted scrypt check of the key).
KEY = "phi-test-pseudonym-key-not-a-secret-b7d3f1a9e5c2"
OLD_FINGERPRINT = pseudonymize(KEY.encode(), "wow-metrics key fingerprint")[:16]
NEEDLES = [*PATIENTS, *ENCOUNTERS, "EXMRN0000001", "EXMRN0000004", "EXV000011", KEY,
           OLD_FINGERPRINT]


def _landing(root: Path) -> Path:
    shutil.copytree(EXAMPLE_LANDING, root)  # the example layout carries EXMRN / EXV ids
    audit = root / "audit"
    p, e = PATIENTS, ENCOUNTERS
    files = {
        # good rows, a row whose time column holds a patient id, a malformed record
        "canonical/good.csv": (
            "clinician_id,event_time,action,patient_id,workstation_id\n"
            f"c1,2026-03-02T14:00:00Z,Chart opened,{p[0]},WS1\n"
            f"c1,2026-03-02T14:02:00Z,Chart opened,{p[0]},WS1\n"
            f"c1,{p[1]},Chart opened,,WS1\n"
            f"c1,2026-03-02T14:03:00Z,Chart opened,{p[2]},WS1,surplus\n"),
        # a file whose header line is missing: its first line is data
        "canonical/headerless.csv": f"c1,2026-03-02T15:00:00Z,Chart opened,{p[3]}\n",
        # a row with bytes that are not UTF-8 next to a patient id
        "canonical/latin.csv": None,
        "epic_access_log/access.csv": (
            "USER_ID,ACCESS_INSTANT,ACCESS_TIME,METRIC_NAME,PAT_ID,CSN\n"
            f"u1,2026-03-02 14:00:00,,In Basket message viewed,{p[4]},{e[0]}\n"
            f"u1,2026-03-02 14:03:00,,In Basket message viewed,{p[4]},{e[0]}\n"
            f"u1,{e[1]},,In Basket message viewed,{p[5]},{e[1]}\n"
            f"u1,,not a time {p[6]},In Basket message viewed,{p[6]},{e[2]}\n"),
        # a wrong header whose cells include an id
        "epic_access_log/wrong.csv": f"USERID,{p[7]},METRIC_NAME\nu1,x,y\n",
    }
    for name, text in files.items():
        path = audit / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if text is None:
            path.write_bytes(b"clinician_id,event_time,action,patient_id\n"
                             b"c2,2026-03-02T14:00:00Z,Caf\xe9 \xff,QX-PAT-880077\n"
                             b"c2,2026-03-02T14:01:00Z,Chart opened,QX-PAT-880077\n")
        else:
            path.write_text(text, encoding="utf-8")
    return root


def _hits(folder: Path) -> list[str]:
    """Every file under folder whose bytes (UTF-8 or UTF-16) or decoded values hold a needle."""
    found = []
    for path in (p for p in folder.rglob("*") if p.is_file()):
        data = path.read_bytes()
        for needle in NEEDLES:
            if needle.encode() in data or needle.encode("utf-16-le") in data:
                found.append(f"{path}: {needle}")
        if path.suffix == ".parquet":
            text = repr(pq.read_table(path).to_pylist())
            found += [f"{path} (values): {n}" for n in NEEDLES if n in text]
        if path.suffix == ".duckdb":
            with duckdb.connect(str(path), read_only=True) as con:
                for (table,) in con.execute(
                        "select table_name from information_schema.tables").fetchall():
                    text = repr(con.execute(f'select * from "{table}"').fetchall())
                    found += [f"{path} {table}: {n}" for n in NEEDLES if n in text]
    return found


def test_no_patient_or_encounter_id_reaches_any_output_or_log(tmp_path):
    landing = _landing(tmp_path / "landing")
    prefect_home = tmp_path / "prefect-home"
    env = {**os.environ, "PREFECT_HOME": str(prefect_home), "WOW_PSEUDONYM_KEY": KEY,
           "PYTHONPATH": str(REPO_ROOT)}

    # `wow run`, verbose: its log lines and messages are the CLI's stdout and stderr.
    cli = subprocess.run([sys.executable, "-m", "wow_metrics.cli", "-v", "run", "--landing",
                          str(landing), "--warehouse", str(tmp_path / "wh-cli")],
                         capture_output=True, text=True, env=env, timeout=600)
    assert cli.returncode == 0, cli.stderr[-3000:]
    # The nightly Prefect flow: its task logs go to Prefect's own store under PREFECT_HOME.
    flow = subprocess.run(
        [sys.executable, "-c",
         "import sys; from flows.nightly import nightly; "
         "nightly(sys.argv[1], sys.argv[2])", str(landing), str(tmp_path / "wh-flow")],
        capture_output=True, text=True, env=env, timeout=600, cwd=REPO_ROOT)
    assert flow.returncode == 0, flow.stderr[-3000:]

    logs = tmp_path / "logs"
    logs.mkdir()
    for name, proc in (("cli", cli), ("flow", flow)):
        (logs / f"{name}.out").write_text(proc.stdout)
        (logs / f"{name}.err").write_text(proc.stderr)
    # The runs saw the bad input (so the test is not vacuous) ...
    assert "headerless.csv" in cli.stderr + cli.stdout
    with duckdb.connect(str(tmp_path / "wh-cli" / "wow.duckdb"), read_only=True) as con:
        reasons = [r[0] for r in con.execute("select reason from quarantine").fetchall()]
        keys = con.execute("select count(*) from read_parquet($f) where patient_key is not null",
                           {"f": str(tmp_path / "wh-cli" / "lake" / "events" / "*" / "*.parquet")}
                           ).fetchall()[0][0]
    assert len(reasons) >= 7 and keys >= 10
    outputs = [tmp_path / "wh-cli", tmp_path / "wh-flow", logs, prefect_home]
    assert any(p.suffix == ".html" for p in (tmp_path / "wh-cli").rglob("*"))  # dashboard, docs
    assert any(p.suffix == ".csv" for p in (tmp_path / "wh-cli").rglob("*"))   # exports
    assert any(p.suffix == ".db" for p in prefect_home.rglob("*"))             # Prefect's store
    # ... and no id is anywhere in what they wrote.
    assert [hit for folder in outputs for hit in _hits(folder)] == []
