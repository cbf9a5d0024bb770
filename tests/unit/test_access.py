"""Informatics and leadership access: read-only query and shell, exports, rollback, readers."""

from __future__ import annotations

import hashlib
import io
import re
import shutil
from pathlib import Path

import duckdb
import pytest
from conftest import SAMPLE_LANDING

from wow_metrics import access
from wow_metrics.access import ROLLUP_TABLES, NoPublication, rollback, shell, write_exports
from wow_metrics.cli import main
from wow_metrics.pipeline import run


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


LATE = ("clinician_id,event_time,action,category,patient_id,workstation_id\n"
        "C0001,2026-03-16T21:00:00,inbox_open,inbox,P1,WS1\n"
        "C0001,2026-03-16T21:04:00,note_edit,notes,P1,WS1\n")


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    root = tmp_path_factory.mktemp("access")
    landing = root / "landing"
    shutil.copytree(SAMPLE_LANDING, landing)
    warehouse = root / "warehouse"
    run(landing, warehouse)
    return landing, warehouse


def _day_rows(warehouse: Path) -> int:
    """The clinician-day row count, read straight from the published file."""
    with duckdb.connect(str(warehouse / "wow.duckdb"), read_only=True) as con:
        return con.execute("select count(*) from ehr_time_by_clinician_day").fetchone()[0]


def test_query_prints_rows_and_csv(published, capsys):
    _, warehouse = published
    assert main(["query", "select count(*) as n from ehr_time_by_clinician_day",
                 "--warehouse", str(warehouse)]) == 0
    assert re.search(rf"^{_day_rows(warehouse)}$", capsys.readouterr().out, re.M)
    assert main(["query", "select department, n_clinicians from ehr_time_by_department_period "
                 "order by all limit 2", "--csv", "--warehouse", str(warehouse)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == "department,n_clinicians" and len(lines) == 3


def test_query_is_read_only_and_errors_are_clear(published, capsys):
    _, warehouse = published
    before = _digest(warehouse / "wow.duckdb")
    assert main(["query", "delete from ehr_time_by_clinician_day",
                 "--warehouse", str(warehouse)]) == 2
    assert "read-only" in capsys.readouterr().err
    assert main(["query", "select nonsense from nowhere", "--warehouse", str(warehouse)]) == 2
    assert "nowhere" in capsys.readouterr().err
    assert main(["query", "select 1", "--warehouse", str(warehouse / "missing")]) == 2
    assert "no published warehouse" in capsys.readouterr().err
    assert _digest(warehouse / "wow.duckdb") == before


def _attacks(warehouse: Path, outside: Path) -> dict[str, str]:
    """What an analyst's SQL must not do: name -> statement."""
    return {
        "read a system file": "select * from read_csv('/etc/passwd')",
        "read a system file as text": "select * from read_text('/etc/passwd')",
        "read the patient-level lake": "select count(*) as n, count(distinct patient_key) as p "
        f"from read_parquet('{warehouse}/lake/events/*/*.parquet')",
        "list the warehouse's files": f"select * from glob('{warehouse}/**')",
        "overwrite the dashboard": "copy (select 'owned' as x) to "
        f"'{warehouse}/dashboard/index.html' (format csv)",
        "overwrite a leadership export": "copy (select 1 as wow8_median) to "
        f"'{warehouse}/exports/2026-03-01/ehr_time_by_department_period.csv' (format csv)",
        "write a file anywhere": f"copy (select 1 as x) to '{outside}/leak.csv' (format csv)",
        "export the database": f"export database '{outside}/dump'",
        "attach a writable database": f"attach '{outside}/mine.duckdb' as mine",
        "install an extension": "install httpfs",
        "load an extension": "load httpfs",
        "re-enable external access": "set enable_external_access = true",
        "unlock the configuration": "set lock_configuration = false",
        "allow unsigned extensions": "set allow_unsigned_extensions = true",
        "widen the allowed paths": "set allowed_paths = ['/']",
        "redirect the temp directory": f"set temp_directory = '{outside}'",
    }


REFUSED = re.compile(r"disabled|locked|Cannot change|Permission", re.IGNORECASE)


def test_query_refuses_files_extensions_and_settings(published, tmp_path, capsys):
    """`wow query` reads the published tables and nothing else, and cannot be re-opened."""
    _, warehouse = published
    write_exports(warehouse)  # the files an analyst must not overwrite
    protected = [warehouse / "dashboard" / "index.html", warehouse / "wow.duckdb",
                 warehouse / "exports" / "2026-03-01" / "ehr_time_by_department_period.csv"]
    before = {p: _digest(p) for p in protected}
    for name, sql in _attacks(warehouse, tmp_path).items():
        code = main(["query", sql, "--warehouse", str(warehouse)])
        captured = capsys.readouterr()
        assert code == 2, (name, captured.out[:300])
        assert REFUSED.search(captured.err), (name, captured.err)
        assert "root:" not in captured.out and "owned" not in captured.out, name
    assert {p: _digest(p) for p in protected} == before
    assert list(tmp_path.iterdir()) == []  # nothing written, nothing attached
    # What an analyst is there for still works: the tables, their definitions, the catalog.
    assert main(["query", "select count(*) as n from ehr_time_by_clinician_day",
                 "--warehouse", str(warehouse)]) == 0
    assert re.search(rf"^{_day_rows(warehouse)}$", capsys.readouterr().out, re.M)
    assert main(["query", "select comment from duckdb_columns() where table_name = "
                 "'ehr_time_by_clinician_period' and column_name = 'wow8'",
                 "--warehouse", str(warehouse)]) == 0
    assert "Unit: hours per 8 scheduled hours" in capsys.readouterr().out
    assert main(["query", "select count(*) from duckdb_tables() where not internal",
                 "--warehouse", str(warehouse)]) == 0
    assert "\n9\n" in capsys.readouterr().out


def test_shell_refuses_files_extensions_and_settings(published, tmp_path):
    """The shell is one connection for many statements: a SET cannot open the next one up."""
    _, warehouse = published
    attacks = _attacks(warehouse, tmp_path)
    script = "".join(f"{sql};\n" for sql in (
        attacks["re-enable external access"], attacks["unlock the configuration"],
        attacks["read a system file"], attacks["read the patient-level lake"],
        attacks["write a file anywhere"], attacks["attach a writable database"],
        attacks["load an extension"]))
    out = io.StringIO()
    assert shell(warehouse, stdin=io.StringIO(script + "select count(*) from quarantine;\n"),
                 out=out) == 1
    text = out.getvalue()
    assert text.count("error: ") == 7, text
    assert all(REFUSED.search(line) for line in text.splitlines() if line.startswith("error: "))
    assert "root:" not in text and "(1 row)" in text  # the last, ordinary statement ran
    assert list(tmp_path.iterdir()) == []


def test_an_analyst_connection_is_locked_and_sees_the_current_publication(published):
    """connect_analyst: the connection `wow query` and `wow shell` use, for notebooks too."""
    _, warehouse = published
    expected = _day_rows(warehouse)
    assert expected > 0
    held = duckdb.connect(str(warehouse / "wow.duckdb"), read_only=True)  # another reader
    try:
        with access.connect_analyst(warehouse) as con:
            assert con.execute("select current_setting('enable_external_access'), "
                               "current_setting('lock_configuration')").fetchone() == (False, True)
            assert con.execute("select count(*) from ehr_time_by_clinician_day").fetchone()[0] == expected
            with pytest.raises(duckdb.Error, match="read-only"):
                con.execute("delete from quarantine")
    finally:
        held.close()


def test_shell_answers_statements_and_definitions_are_in_view(published):
    _, warehouse = published
    out = io.StringIO()
    code = shell(warehouse, stdin=io.StringIO(
        "select comment from duckdb_columns()\n where table_name = 'ehr_time_by_clinician_period'"
        " and column_name = 'wow8';\nselect count(*) from efficiency_of_practice_by_period;\n"),
        out=out)
    assert code == 0
    text = out.getvalue()
    assert "Unit: hours per 8 scheduled hours" in text  # the contract's definition, as a comment
    assert "count_star()\n-" in text and "\n2\n(1 row)" in text
    bad = io.StringIO()
    assert shell(warehouse, stdin=io.StringIO("drop table quarantine;\n"), out=bad) == 1
    assert "read-only" in bad.getvalue()


def test_every_published_table_and_column_has_a_comment(published):
    _, warehouse = published
    with duckdb.connect(str(warehouse / "wow.duckdb"), read_only=True) as con:
        tables = con.execute("select table_name, comment from duckdb_tables() "
                             "where not internal").fetchall()
        columns = con.execute("select table_name, column_name, comment from duckdb_columns() "
                              "where not internal").fetchall()
        settings = dict(con.execute("select name, value from metric_definitions "
                                    "where kind = 'setting'").fetchall())
    assert len(tables) == 9 and all(comment for _, comment in tables)
    assert all(comment for _, _, comment in columns), [c for c in columns if not c[2]]
    for setting in ("idle_threshold_seconds", "workday_start", "workday_end",
                    "schedule_window_grace_minutes", "min_cell_size", "min_scheduled_hours",
                    "wow_threshold_hours_per_fte_week"):
        assert settings[setting] is not None


def _identifiers(warehouse: Path) -> set[str]:
    with duckdb.connect(str(warehouse / "wow.duckdb"), read_only=True) as con:
        return {r[0] for r in con.execute(
            "select distinct clinician_id from ehr_time_by_clinician_day").fetchall()}


def test_leadership_exports_hold_rollups_only(published):
    _, warehouse = published
    files = write_exports(warehouse)
    periods = sorted(p.name for p in (warehouse / "exports").iterdir())
    assert periods == ["2026-02-01", "2026-03-01"]
    assert {f.name for f in files} == {f"{t}.{x}" for t in ROLLUP_TABLES for x in ("csv", "parquet")}
    ids = _identifiers(warehouse)
    hex64 = re.compile(rb"[0-9a-f]{64}")
    for f in files:
        data = f.read_bytes()
        assert not any(i.encode() in data for i in ids), f
        assert not hex64.search(data), f
    # The rows are the published rollups, suppressed cells still blank.
    with duckdb.connect() as con:
        exported = con.execute(
            f"select count(*), count(*) filter (where is_suppressed and wow8_median is null) "
            f"from read_parquet('{warehouse}/exports/*/ehr_time_by_department_period.parquet')"
        ).fetchone()
    with duckdb.connect(str(warehouse / "wow.duckdb"), read_only=True) as con:
        published_rows = con.execute(
            "select count(*), count(*) filter (where is_suppressed) "
            "from ehr_time_by_department_period").fetchone()
    assert exported == published_rows and published_rows[1] > 0


def test_clinician_level_exports_only_behind_the_flag_and_never_beside_leadership(published,
                                                                                  capsys):
    _, warehouse = published
    leadership, informatics = warehouse / "exports", warehouse / "informatics" / "exports"
    shutil.rmtree(informatics, ignore_errors=True)
    assert main(["export", "--clinician-level", "--warehouse", str(warehouse)]) == 0
    assert str(informatics) in capsys.readouterr().out
    data = (informatics / "2026-03-01" / "ehr_time_by_clinician_period.csv").read_text()
    assert "C0001" in data
    # The leadership folder never holds a clinician-level file, named or not.
    ids = _identifiers(warehouse)
    for f in leadership.rglob("*.*"):
        assert f.name.split(".")[0] in ROLLUP_TABLES, f
        assert not any(i.encode() in f.read_bytes() for i in ids), f
    # A normal export (as after every publication) rewrites the leadership files; the
    # informatics export is not deleted, and is rewritten from the same publication.
    written = _digest(informatics / "2026-03-01" / "ehr_time_by_clinician_period.parquet")
    assert main(["export", "--warehouse", str(warehouse)]) == 0
    assert not list(leadership.rglob("ehr_time_by_clinician_period.*"))
    assert _digest(informatics / "2026-03-01" / "ehr_time_by_clinician_period.parquet") == written
    # An old leadership folder that held a clinician-level file (before this rule) loses it.
    (leadership / "2026-03-01" / "ehr_time_by_clinician_period.csv").write_text(data)
    write_exports(warehouse)
    assert not list(leadership.rglob("ehr_time_by_clinician_period.*"))


def test_a_reader_sees_the_old_or_the_new_publication_whole(tmp_path):
    landing = tmp_path / "landing"
    shutil.copytree(SAMPLE_LANDING, landing)
    warehouse = tmp_path / "warehouse"
    run(landing, warehouse)
    reader = duckdb.connect(str(warehouse / "wow.duckdb"), read_only=True)
    query = ("select (select sum(events) from ehr_time_by_clinician_day), "
             "(select sum(events) from ehr_time_by_clinician_period), "
             "(select count(*) from ingest_manifest)")
    old = reader.execute(query).fetchone()
    assert old[0] == old[1]
    (landing / "audit" / "canonical" / "2026" / "03" / "late.csv").write_text(LATE)
    run(landing, warehouse)  # publishes while the reader holds the old version open
    assert reader.execute(query).fetchone() == old  # still the old version, whole
    reader.close()
    with duckdb.connect(str(warehouse / "wow.duckdb"), read_only=True) as fresh:
        new = fresh.execute(query).fetchone()
    assert new == (old[0] + 2, old[1] + 2, old[2] + 1)


def test_rollback_restores_the_previous_publication(tmp_path, capsys):
    landing = tmp_path / "landing"
    shutil.copytree(SAMPLE_LANDING, landing)
    warehouse = tmp_path / "warehouse"
    run(landing, warehouse)
    first = _digest(warehouse / "wow.duckdb")
    (landing / "audit" / "canonical" / "2026" / "03" / "late.csv").write_text(LATE)
    run(landing, warehouse)
    second = _digest(warehouse / "wow.duckdb")
    assert main(["rollback", "--warehouse", str(warehouse)]) == 0
    assert _digest(warehouse / "wow.duckdb") == first
    assert _digest(warehouse / "wow.previous.duckdb") == second
    assert not (warehouse / "state").exists()
    # The next run rebuilds everything from the lake and publishes the second version's figures.
    again = run(landing, warehouse)
    assert again.build == ("no trustworthy record of what the current publication was built from")
    assert again.ingest.files_ingested == 0
    with duckdb.connect(str(warehouse / "wow.duckdb"), read_only=True) as con:
        assert con.execute("select sum(events) from ehr_time_by_clinician_day").fetchone()[0] \
            == 68_353 + 2
    with pytest.raises(NoPublication, match="no published warehouse"):
        rollback(tmp_path / "empty")
    only_one = tmp_path / "only_one"
    only_one.mkdir()
    shutil.copy(warehouse / "wow.duckdb", only_one / "wow.duckdb")
    with pytest.raises(NoPublication, match="no previous publication"):
        rollback(only_one)


def test_dashboard_command_rebuilds_and_prints_its_path(published, capsys):
    _, warehouse = published
    page = warehouse / "dashboard" / "index.html"
    page.unlink(missing_ok=True)
    assert main(["dashboard", "--warehouse", str(warehouse)]) == 0
    assert capsys.readouterr().out.strip() == str(page)
    assert page.stat().st_size > 1_000_000  # plotly.js is inlined: the page works offline
    assert main(["dashboard", "--warehouse", str(warehouse / "missing")]) == 2
    assert "no published warehouse" in capsys.readouterr().err
