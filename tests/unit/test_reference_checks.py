"""Reference files that fail loudly (issue 21, case 2): a broken roster or schedule never
publishes quietly wrong figures, and every warning says its true cause."""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest

from wow_metrics.contracts import load_contracts, with_severities
from wow_metrics.warehouse import AuditFailure

NY = "America/New_York"


def ev(cid: str, when: str, action: str = "Chart opened") -> dict:
    return {"clinician_id": cid, "event_time": when, "action": action}


def appt(cid: str, aid: str, start: str, minutes: int = 240) -> dict:
    return {"clinician_id": cid, "appointment_id": aid, "start_time": start,
            "duration_minutes": minutes, "status": "completed"}


def clinic(landing, clinicians: int = 6) -> None:
    """`clinicians` rostered clinicians with a morning session and a little EHR work on two
    March days."""
    landing.config(default_timezone=NY)
    landing.roster([{"clinician_id": f"c{i}", "department": "FM", "clinical_fte": "1.0",
                     "timezone": NY} for i in range(clinicians)])
    landing.schedule([appt(f"c{i}", f"a{i}-{d}", f"2026-03-0{d}T08:00:00")
                      for i in range(clinicians) for d in (2, 3)], name="march.csv")
    landing.canonical([ev(f"c{i}", f"2026-03-0{d}T{h}:00:00-05:00")
                       for i in range(clinicians) for d in (2, 3) for h in ("09", "18")]
                      + [ev(f"c{i}", f"2026-03-0{d}T{h}:04:00-05:00")
                         for i in range(clinicians) for d in (2, 3) for h in ("09", "18")])


def _cli_run(landing, capsys) -> tuple[int, str]:
    from wow_metrics.cli import main

    code = main(["run", "--landing", str(landing.root), "--warehouse", str(landing.warehouse)])
    return code, capsys.readouterr().err


def test_schedule_file_missing_a_column_refuses_publication(landing, capsys):
    clinic(landing)
    first = landing.run()
    published = first.db_path.read_bytes()
    path = landing.root / "reference" / "schedule" / "march.csv"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(",".join(line.split(",")[:3] + line.split(",")[4:])
                              for line in lines) + "\n")  # duration_minutes dropped

    code, err = _cli_run(landing, capsys)
    assert code == 1
    assert "ingest_manifest.reference_file_quarantined_whole" in err
    assert "reference/schedule/march.csv" in err
    assert "missing required column(s) duration_minutes" in err
    assert "reference_check_severity: warning" in err  # how a site lowers it
    assert first.db_path.read_bytes() == published  # the last good publication stands


def test_schedule_resaved_by_a_spreadsheet_refuses_naming_file_line_and_reason(landing):
    clinic(landing)
    path = landing.root / "reference" / "schedule" / "march.csv"
    rows = path.read_text().splitlines()
    # 2026-03-02T08:00:00 -> 3/2/2026 8:00 AM, as a spreadsheet program re-saves it
    path.write_text("\n".join([rows[0]] + [r.replace("2026-03-02T08:00:00", "3/2/2026 8:00 AM")
                                           .replace("2026-03-03T08:00:00", "3/3/2026 8:00 AM")
                                           for r in rows[1:]]) + "\n")
    with pytest.raises(AuditFailure) as refused:
        landing.run()
    name = "ingest_manifest.reference_rows_mostly_rejected"
    assert name in refused.value.failures
    ((file_path, rejected, read, line, reason),) = refused.value.failures[name]
    assert (file_path, rejected, read, line) == ("reference/schedule/march.csv", 12, 12, 2)
    assert reason == "unparseable start_time 3/2/2026 8:00 AM"
    assert not (landing.warehouse / "wow.duckdb").exists()  # nothing was ever published


def test_a_site_can_lower_the_reference_checks_to_warnings(landing):
    clinic(landing)
    landing.config(default_timezone=NY, reference_check_severity="warning")
    (landing.root / "reference" / "schedule" / "march.csv").write_text(
        "clinician_id,appointment_id,start_time,status\nc0,a,2026-03-02T08:00:00,completed\n")
    pub = landing.run()
    summary = pub.summary
    assert summary.reference_files_quarantined == ["reference/schedule/march.csv"]
    assert any(w.startswith("ingest_manifest.reference_file_quarantined_whole") and
               "march.csv" in w for w in summary.warnings), summary.warnings
    from wow_metrics.cli import format_summary

    text = format_summary(summary)
    assert ("reference files: 2 read, 1 quarantined whole (reference/schedule/march.csv)"
            in text), text


def test_summary_counts_quarantined_reference_rows_by_file(landing):
    clinic(landing, clinicians=12)
    with (landing.root / "reference" / "schedule" / "march.csv").open("a") as fh:
        fh.write("c0,bad1,2026-03-04T25:00:00,30,completed\r\n")  # 1 of 25 rows: under 10%
    pub = landing.run()
    rejected = {f["file_path"]: (f["rows_quarantined"], f["rows_read"])
                for f in pub.summary.reference_files}
    assert rejected["reference/schedule/march.csv"] == (1, 25)
    assert rejected["reference/roster.csv"] == (0, 12)
    from wow_metrics.cli import format_summary

    assert ("1 row(s) quarantined: reference/schedule/march.csv 1 of 25"
            in format_summary(pub.summary))


def test_roster_warnings_say_the_true_cause(landing):
    """A bad FTE, an unknown zone and a missing row all leave a clinician in department
    'unknown'; each warning says which it was, with file and line."""
    clinic(landing, clinicians=20)
    with (landing.root / "reference" / "roster.csv").open("a") as fh:
        fh.write("x1,FM,,,2.0,America/New_York\r\n")   # line 22
        fh.write("x2,FM,,,1.0,Mars/Olympus\r\n")       # line 23
    landing.canonical([ev(c, f"2026-03-02T1{m}:00:00-05:00") for c in ("x1", "x2", "x3")
                       for m in (0, 1)] + [ev(c, "2026-03-02T10:03:00-05:00")
                                           for c in ("x1", "x2", "x3")], name="extra.csv")
    pub = landing.run()  # 2 of 22 roster rows rejected: under max_reference_reject_share
    (warning,) = [w for w in pub.summary.warnings
                  if w.startswith("ehr_time_by_clinician_period.unrostered_clinician")]
    assert ("('x1', 'roster row rejected: clinical_fte 2.0 out of range (0, 1.5] "
            "(reference/roster.csv line 22)')") in warning
    assert "('x2', 'roster row rejected: unknown time zone Mars/Olympus " \
           "(reference/roster.csv line 23)')" in warning
    assert "('x3', 'no roster row')" in warning
    assert "3 row(s)" in warning


# --------------------------------------------------------------------------------------------
# The rules themselves, on given rows (the contract's SQL, in memory)


def _rule(table: str, name: str) -> str:
    return next(i.sql for i in load_contracts()[table].invariants if i.name == name)


def _settings(con, **values: str) -> None:
    con.execute("create table metric_definitions (kind VARCHAR, name VARCHAR, value VARCHAR)")
    for name, value in {"min_cell_size": "5", "max_eligible_drop_share": "0.5", **values}.items():
        con.execute("insert into metric_definitions values ('setting', ?, ?)", [name, value])


def _efficiency(rows: list[tuple], **settings: str) -> list[tuple]:
    """Bad rows of eligible_clinicians_kept over (period_start, coverage_days, period_days,
    n_clinicians) rows, each period's previous one being the row before it."""
    con = duckdb.connect()
    _settings(con, **settings)
    con.execute("create table efficiency_of_practice_by_period (period_start DATE, "
                "previous_period_start DATE, coverage_days INTEGER, is_complete_period BOOLEAN, "
                "n_clinicians BIGINT)")
    previous = None
    for start, covered, days, n in rows:
        con.execute("insert into efficiency_of_practice_by_period values (?, ?, ?, ?, ?)",
                    [start, previous, covered, covered == days, n])
        previous = start
    return con.execute(_rule("efficiency_of_practice_by_period",
                             "eligible_clinicians_kept")).fetchall()


JAN, FEB, MAR, APR = (dt.date(2026, m, 1) for m in (1, 2, 3, 4))


def test_a_period_that_loses_most_eligible_clinicians_is_caught():
    assert _efficiency([(JAN, 31, 31, 40), (FEB, 28, 28, 40), (MAR, 31, 31, 19)]) == [
        (MAR, 31, 19, FEB, 40)]
    assert _efficiency([(FEB, 28, 28, 40), (MAR, 31, 31, 20)]) == []  # exactly half: kept
    assert _efficiency([(FEB, 28, 28, 40), (MAR, 31, 31, 25)], max_eligible_drop_share="0.3") \
        == [(MAR, 31, 25, FEB, 40)]


def test_a_young_partial_period_is_not_compared_yet():
    # 13 days of March: too early to tell; 14 days: compared.
    assert _efficiency([(FEB, 28, 28, 40), (MAR, 13, 31, 0)]) == []
    assert _efficiency([(FEB, 28, 28, 40), (MAR, 14, 31, 0)]) == [(MAR, 14, 0, FEB, 40)]
    # March complete and April a day old: March is still checked against February.
    assert _efficiency([(FEB, 28, 28, 40), (MAR, 31, 31, 3), (APR, 1, 30, 0)]) == [
        (MAR, 31, 3, FEB, 40)]


def test_only_the_latest_periods_and_complete_references_count():
    # An old drop (January to February) is history, not tonight's data problem.
    assert _efficiency([(dt.date(2025, 12, 1), 31, 31, 40), (JAN, 31, 31, 40),
                        (FEB, 28, 28, 4), (MAR, 31, 31, 4), (APR, 30, 30, 4)]) == []
    # The previous period partial, or smaller than min_cell_size: no reference to compare with.
    assert _efficiency([(FEB, 20, 28, 40), (MAR, 31, 31, 2)]) == []
    assert _efficiency([(FEB, 28, 28, 4), (MAR, 31, 31, 0)]) == []


def test_fixed_offset_zone_beside_dst_zones_is_flagged():
    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    con.execute("create table roster (clinician_id VARCHAR, timezone VARCHAR)")
    con.executemany("insert into roster values (?, ?)", [
        ("a", NY), ("b", "EST"), ("c", "America/Phoenix"), ("d", "Etc/GMT+5"), ("e", "UTC")])
    rule = _rule("roster", "fixed_offset_zone")
    assert sorted(con.execute(rule).fetchall()) == [("b", "EST"), ("d", "Etc/GMT+5"), ("e", "UTC")]
    con.execute("delete from roster where clinician_id = 'a'")  # nobody observes DST
    assert con.execute(rule).fetchall() == []


def test_reference_check_severity_setting_applies_to_the_reference_checks_only():
    contracts = with_severities(load_contracts(), {"reference_check_severity": "warning"})
    lowered = {(t, i.name) for t, c in contracts.items() for i in c.invariants
               if i.severity_setting}
    assert lowered == {("ingest_manifest", "reference_file_quarantined_whole"),
                       ("ingest_manifest", "reference_rows_mostly_rejected"),
                       ("efficiency_of_practice_by_period", "eligible_clinicians_kept")}
    assert all(i.severity == "warning" for t, c in contracts.items() for i in c.invariants
               if i.severity_setting)
    defaults = load_contracts()
    assert all(i.severity == "critical" for c in defaults.values() for i in c.invariants
               if i.severity_setting)
    # every other invariant keeps its own severity
    assert [(t, i.name, i.severity) for t, c in contracts.items() for i in c.invariants
            if not i.severity_setting] == [(t, i.name, i.severity) for t, c in defaults.items()
                                           for i in c.invariants if not i.severity_setting]


# --------------------------------------------------------------------------------------------
# Smaller traps


def test_empty_landing_zone_over_a_new_warehouse_is_an_error(landing, capsys):
    from wow_metrics.cli import main

    (landing.root / "audit" / "canonical").mkdir(parents=True)  # folders, but no file
    (landing.root / "reference").mkdir()
    code = main(["run", "--landing", str(landing.root), "--warehouse", str(landing.warehouse)])
    err = capsys.readouterr().err
    assert code == 2
    assert "is empty: no audit extracts" in err and "nothing to measure" in err
    assert not (landing.warehouse / "wow.duckdb").exists()


def test_run_help_lists_every_exit_code(capsys):
    from wow_metrics.cli import main

    with pytest.raises(SystemExit):
        main(["run", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for code in ("Exit 0 on success", "1 if the build failed its audits", "2 on bad input",
                 "3 if another run", "4 if the disk is full"):
        assert code in text, code


def test_conflicting_roster_rows_and_reused_appointment_ids_are_warned(landing):
    """The last row wins (SPEC 1.3, 1.4), but never without a word: both rows are named."""
    clinic(landing, clinicians=12)
    with (landing.root / "reference" / "roster.csv").open("a") as fh:
        fh.write("c3,FM,,,0.5,America/New_York\r\n")      # line 14: c3 again, another FTE
        fh.write("c4,FM,,,1.0,America/New_York\r\n")      # line 15: c4 again, the same row
    landing.schedule([appt("c5", "a0-2", "2026-03-02T13:00:00")], name="zz_late.csv")
    pub = landing.run()
    warnings = pub.summary.warnings
    (roster,) = [w for w in warnings if w.startswith("roster.conflicting_roster_rows")]
    assert "('c3', 'reference/roster.csv line 5', 'reference/roster.csv line 14')" in roster
    assert "'c4'" not in roster  # a repeated identical row is only a duplicate
    (reused,) = [w for w in warnings
                 if w.startswith("schedule.appointment_id_reused_across_clinicians")]
    assert ("('a0-2', 'c5', 'reference/schedule/zz_late.csv line 2', 'c0', "
            "'reference/schedule/march.csv line 2')") in reused
    assert pub.period("c3", "2026-03-01")["clinical_fte"] == 0.5  # the last row still wins
