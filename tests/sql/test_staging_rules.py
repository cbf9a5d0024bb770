"""Staging and the contracts enforce one rule from one place (issue 22): whatever text a roster
FTE or an appointment length holds, a row staging accepts passes the gate's check, and a value
staging cannot use never stops the build. Models run alone on given rows, in memory."""

from __future__ import annotations

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wow_metrics.contracts import load_contracts
from wow_metrics.sqlfiles import install_macros
from wow_metrics.warehouse import discover_models, run_model

MODELS = {m.name: m for m in discover_models("reference")}
CONTRACTS = load_contracts()
PARAMS = {"default_timezone": "America/New_York"}


def _rule(table: str, name: str) -> str:
    return next(i.sql for i in CONTRACTS[table].invariants if i.name == name)


def _staged(roster_fte: list[str], durations: list[str]) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    install_macros(con)
    con.execute("create table raw_roster (source_file VARCHAR, source_line BIGINT, "
                "clinician_id VARCHAR, department VARCHAR, specialty VARCHAR, role VARCHAR, "
                "clinical_fte VARCHAR, timezone VARCHAR)")
    con.executemany("insert into raw_roster values ('reference/roster.csv', ?, ?, 'FM', null, "
                    "null, ?, null)", [(i + 2, f"c{i}", f) for i, f in enumerate(roster_fte)])
    con.execute("create table raw_schedule (source_file VARCHAR, source_line BIGINT, "
                "clinician_id VARCHAR, appointment_id VARCHAR, start_time VARCHAR, "
                "duration_minutes VARCHAR, status VARCHAR)")
    con.executemany("insert into raw_schedule values ('reference/schedule/s.csv', ?, 'c0', ?, "
                    "'2026-03-02T09:00:00', ?, 'completed')",
                    [(i + 2, f"a{i}", d) for i, d in enumerate(durations)])
    for name in ("stg_roster", "stg_schedule"):
        run_model(con, MODELS[name], PARAMS)
    for table in ("roster", "schedule"):
        con.execute(f"create view {table} as select * exclude (reject_reason, is_replaced) "
                    f"from stg_{table} where reject_reason is null and not is_replaced")
    return con


NUMBERS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["0", "-0", "1e-9", "1.5", "1.5000001", "1440", "1440.0000001", "nan",
                     "inf", "-inf", "99999999999999999999", "1e308", "0x10", " 1.0 ", "", "1,5"]),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(NUMBERS, min_size=1, max_size=6), st.lists(NUMBERS, min_size=1, max_size=6))
def test_accepted_rows_pass_the_gate_and_bad_values_never_stop_the_build(ftes, durations):
    con = _staged(ftes, durations)  # a cast that overflowed would raise here
    assert con.execute(_rule("roster", "clinical_fte_in_range")).fetchall() == []
    assert con.execute(_rule("schedule", "duration_in_range")).fetchall() == []
    staged = con.execute("select count(*) from stg_roster").fetchone()[0] + con.execute(
        "select count(*) from stg_schedule").fetchone()[0]
    assert staged == len(ftes) + len(durations)  # every row accepted or rejected, none lost


@pytest.mark.parametrize("fte, accepted", [
    ("1e-9", True), ("1.5", True), ("0", False), ("1.5000001", False), ("nan", False),
    ("inf", False), ("-0.5", False), ("", True)])  # empty: no FTE, allowed (SPEC 1.3)
def test_fte_range_is_the_spec_s(fte, accepted):
    con = _staged([fte], ["30"])
    reason = con.execute("select reject_reason from stg_roster").fetchone()[0]
    assert (reason is None) is accepted, reason


@pytest.mark.parametrize("minutes, reason", [
    ("99999999999999999999", "duration_minutes 99999999999999999999 out of range (0, 1440]"),
    ("nan", "duration_minutes nan out of range (0, 1440]"),
    ("1e-9", None), ("1440", None), ("0", "duration_minutes 0 out of range (0, 1440]")])
def test_huge_or_odd_durations_are_rejected_rows_not_a_crash(minutes, reason):
    con = _staged(["1.0"], [minutes])
    got, end_at = con.execute("select reject_reason, end_at from stg_schedule").fetchone()
    assert got == reason
    assert (end_at is None) == (reason is not None)
