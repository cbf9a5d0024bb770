"""Table contracts: they load, match the tables the pipeline writes, hold on the sample, and bite."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest
from conftest import SAMPLE_LANDING

from wow_metrics.contracts import (
    Check,
    ContractError,
    column_comments,
    load_contract,
    load_contracts,
)
from wow_metrics.sqlfiles import install_macros
from wow_metrics.warehouse import PUBLISHED_TABLES

CONTRACTS = load_contracts()
EXPECTED_TABLES = {
    "canonical_events", "roster", "schedule", "ehr_time_by_clinician_day",
    "ehr_time_by_clinician_period", "ingest_manifest", "quarantine", "metric_definitions",
    "validation_results", "ehr_time_by_department_period", "efficiency_of_practice_by_period",
    "coverage_by_date",
}
# Contracted tables that are not in wow.duckdb, and the columns staging keeps only to filter by.
UNPUBLISHED = {"canonical_events", "roster", "schedule"}
STAGING_BOOKKEEPING = ("reject_reason", "is_replaced")

INVARIANTS = [(t, inv) for t, c in CONTRACTS.items() for inv in c.invariants]
CRITICAL = [(t, inv) for t, inv in INVARIANTS if inv.severity == "critical"]
COLUMN_CHECKS = [(t, cid, sev, sql) for t, c in CONTRACTS.items()
                 for cid, sev, sql in c.check_queries()]


def _first(table: str, where: str = "true") -> str:
    return f"rowid = (select min(rowid) from {table} where {where})"


def _dup(table: str, where: str = "true") -> str:
    return f"insert into {table} select * from {table} where {_first(table, where)}"


DAY, PERIOD = "ehr_time_by_clinician_day", "ehr_time_by_clinician_period"
DEPT, EFF = "ehr_time_by_department_period", "efficiency_of_practice_by_period"
FIRST_INGESTED = _first("ingest_manifest", "status = 'ingested'")
FIRST_QUARANTINED = _first("ingest_manifest", "status = 'quarantined'")
FIRST_EXTRACT = _first("ingest_manifest", "file_kind = 'audit_extract'")
FIRST_METRIC = _first("metric_definitions", "kind = 'metric'")
FIRST_REFERENCE = _first("ingest_manifest", "status = 'read'")
# One statement per critical invariant that plants exactly one violation of it.
MUTATIONS: dict[str, str] = {
    "day_grain_unique": _dup(DAY),
    "categories_sum_to_ehr": f"update {DAY} set inbox_minutes = inbox_minutes + 1 where {_first(DAY)}",
    "parts_within_ehr": f"update {DAY} set pajama_minutes = ehr_minutes + 1 where {_first(DAY)}",
    "wow_is_ehr_minus_in_schedule": f"update {DAY} set wow_minutes = wow_minutes + 1 where {_first(DAY)}",
    "prescriptions_within_orders":
        f"update {DAY} set prescriptions_minutes = orders_minutes + 1 where {_first(DAY)}",
    "in_schedule_within_scheduled":
        f"update {DAY} set in_schedule_minutes = scheduled_minutes + 1 where {_first(DAY)}",
    "unscheduled_day_rule":
        f"update {DAY} set unscheduled_day_minutes = unscheduled_day_minutes + 1 where {_first(DAY)}",
    "no_window_all_outside": f"update {DAY} set outside_schedule_window_minutes = ehr_minutes + 1 "
                             f"where {_first(DAY, 'appointments = 0')}",
    "appointment_days_have_scheduled_time":
        f"update {DAY} set scheduled_minutes = 0 where {_first(DAY, 'appointments > 0')}",
    "weekend_flag_matches_date": f"update {DAY} set is_weekend = not is_weekend where {_first(DAY)}",
    "weekend_and_holiday_all_pajama":
        f"update {DAY} set pajama_minutes = pajama_minutes + 1 where {_first(DAY, 'is_weekend')}",
    "row_has_a_reason": f"update {DAY} set events = 0, scheduled_minutes = 0, ehr_minutes = 0 "
                        f"where {_first(DAY)}",
    "period_grain_unique": _dup(PERIOD),
    "period_start_aligned": f"update {PERIOD} set period_start = period_start + 1 where {_first(PERIOD)}",
    "period_sums_equal_days": f"update {PERIOD} set ehr_hours = ehr_hours + 1 where {_first(PERIOD)}",
    "period_categories_sum_to_ehr":
        f"update {PERIOD} set inbox_hours = inbox_hours + 1 where {_first(PERIOD)}",
    "period_day_counts_within_period":
        f"update {PERIOD} set days_active = period_days + 1 where {_first(PERIOD)}",
    "per8_normalisation": f"update {PERIOD} set ehr_time8 = ehr_time8 + 1 "
                          f"where {_first(PERIOD, 'scheduled_hours > 0')}",
    "per_fte_normalisation": f"update {PERIOD} set wow_hours_per_fte_week = null "
                             f"where {_first(PERIOD, 'clinical_fte is not null')}",
    "per_sched_day_normalisation":
        f"update {PERIOD} set ehr_minutes_per_sched_day = ehr_minutes_per_sched_day + 1 "
        f"where {_first(PERIOD, 'scheduled_days > 0')}",
    "undivided_attention_rule":
        f"update {PERIOD} set undivided_attention_pct = undivided_attention_pct + 1 "
        f"where {_first(PERIOD, 'scheduled_hours > 0')}",
    "department_grain_unique": _dup(DEPT),
    "suppression_rule": f"update {DEPT} set is_suppressed = not is_suppressed where {_first(DEPT)}",
    "quantiles_ordered": f"update {DEPT} set wow8_p25 = wow8_median + 1 "
                         f"where {_first(DEPT, 'not is_suppressed')}",
    "counts_match_clinician_periods":
        f"update {DEPT} set n_clinicians_measured = n_clinicians_measured + 1 where {_first(DEPT)}",
    "median_matches_clinicians": f"update {DEPT} set wow8_median = wow8_median + 0.001 "
                                 f"where {_first(DEPT, 'not is_suppressed')}",
    "organisation_counts_match_departments":
        f"update {EFF} set n_clinicians_measured = n_clinicians_measured + 1 where {_first(EFF)}",
    "organisation_suppression_rule":
        f"update {EFF} set is_suppressed = not is_suppressed where {_first(EFF)}",
    # The sample's periods are partial (no change may be computed): a change planted beside
    # the previous period breaks the rule either way.
    "change_is_difference": f"update {EFF} set wow8_median_change = coalesce(wow8_median_change, 0) "
                            f"+ 1 where {_first(EFF, 'previous_period_start is not null')}",
    "coverage_matches_dates": f"update {EFF} set gap_days = gap_days + 1 where {_first(EFF)}",
    "coverage_is_the_organisations":
        f"update {PERIOD} set coverage_days = coverage_days - 1 where {_first(PERIOD)}",
    "coverage_is_contiguous": "delete from coverage_by_date where activity_date = "
                              "(select min(activity_date) + 3 from coverage_by_date)",
    "coverage_matches_day_table":
        f"update coverage_by_date set events = events + 1 where {_first('coverage_by_date')}",
    "period_start_of_date": "update coverage_by_date set period_start = period_start + 1 "
                            f"where {_first('coverage_by_date')}",
    "previous_period_is_adjacent":
        f"update {EFF} set previous_period_start = previous_period_start - 1 "
        f"where {_first(EFF, 'previous_period_start is not null')}",
    "manifest_grain_unique": _dup("ingest_manifest"),
    "manifest_reconciles": "update ingest_manifest set rows_loaded = rows_loaded + 1 "
                           f"where {FIRST_INGESTED}",
    "one_live_version_per_path":
        "insert into ingest_manifest select * replace (repeat('0', 64) as content_sha256) "
        f"from ingest_manifest where {FIRST_INGESTED}",
    "one_live_copy_per_content":
        "insert into ingest_manifest select * replace (file_path || '.copy' as file_path) "
        f"from ingest_manifest where {FIRST_INGESTED}",
    "kind_status_format_agree": "update ingest_manifest set format = null "
                                f"where {FIRST_EXTRACT}",
    "content_sha256_is_hex": "update ingest_manifest set content_sha256 = upper(content_sha256) "
                             f"where {_first('ingest_manifest')}",
    "quarantine_counts_match": "update ingest_manifest set rows_quarantined = rows_quarantined + 1 "
                               f"where {FIRST_INGESTED}",
    "quarantined_file_has_message": "update ingest_manifest set message = null "
                                    f"where {FIRST_QUARANTINED}",
    "quarantine_grain_unique": _dup("quarantine"),
    "quarantine_file_in_manifest":
        f"update quarantine set source_file = 'nowhere.csv' where {_first('quarantine')}",
    "quarantine_line_in_file_range": "update quarantine set source_line = 1 where "
                                     + _first("quarantine", "source_line is not null "
                                                            "and source_file like '%.csv'"),
    "whole_file_row_alone":
        "insert into quarantine select source_file, 2, 'planted', null from quarantine "
        f"where {_first('quarantine', 'source_line is null')}",
    "definitions_grain_unique": _dup("metric_definitions"),
    "no_published_critical_failure":
        "update validation_results set success = false where severity = 'critical' "
        "and rowid = (select min(rowid) from validation_results where severity = 'critical')",
    "one_run": f"update metric_definitions set run_id = 'another-run' where {_first('metric_definitions')}",
    "figure_settings_present":
        "delete from metric_definitions where kind = 'setting' and name = 'idle_threshold_seconds'",
    "period_setting_valid":
        "update metric_definitions set value = 'year' where kind = 'setting' and name = 'period'",
    "metric_rows_have_no_value": "update metric_definitions set value = '1' "
                                 f"where {FIRST_METRIC}",
    "day_minutes_defined":
        "delete from metric_definitions where kind = 'metric' and name = 'pajama_minutes'",
    "events_grain_unique": _dup("canonical_events"),
    "bucket_is_clinician_hash":
        f"update canonical_events set bucket = (bucket + 1) % 16 where {_first('canonical_events')}",
    # A lake file whose patient_key column holds text (an id in the clear, a layout 1 key).
    "patient_ids_pseudonymised": "alter table canonical_events alter patient_key type VARCHAR; "
                                 "update canonical_events set patient_key = 'Z8116813' "
                                 f"where {_first('canonical_events', 'patient_key is not null')}",
    "event_at_plausible": "update canonical_events set event_at = '1980-01-01 00:00:00+00' "
                          f"where {_first('canonical_events')}",
    "lake_reconciles_with_manifest": "update lake_extract_rows set lake_rows = lake_rows - 1 "
                                     f"where {_first('lake_extract_rows')}",
    "timezone_known": f"update roster set timezone = 'Mars/Base' where {_first('roster')}",
    "counted_unless_canceled": f"update schedule set is_counted = not is_counted where {_first('schedule')}",
    "end_is_start_plus_duration":
        f"update schedule set end_at = end_at + interval 1 minute where {_first('schedule')}",
    "start_date_is_local": f"update schedule set start_date = start_date + 1 where {_first('schedule')}",
    "clinical_fte_in_range": f"update roster set clinical_fte = 1.5000001 where {_first('roster')}",
    "period_clinical_fte_in_range": f"update {PERIOD} set clinical_fte = 0 "
                                    f"where {_first(PERIOD, 'clinical_fte is not null')}",
    "duration_in_range": f"update schedule set duration_minutes = 0 where {_first('schedule')}",
    "reference_file_quarantined_whole": "update ingest_manifest set status = 'quarantined' "
                                        f"where {FIRST_REFERENCE}",
    # The fixture allows 60% of a reference file's rows rejected (its schedule_zz.csv has 50%).
    "reference_rows_mostly_rejected": "update metric_definitions set value = '0.01' "
                                      "where name = 'max_reference_reject_share'",
    "eligible_clinicians_kept": f"update {EFF} set is_complete_period = true, n_clinicians = 100 "
                                f"where {_first(EFF)}",
}

# Bad input added to the sample so that quarantine, duplicates, exclusions, whole-file rejects and
# replaced reference rows exist, and the audit-trail invariants are not vacuous.
_EXTRA_EVENTS = """clinician_id,event_time,action,category,patient_id,workstation_id
C0001,2026-03-04T09:00:00,chart_open,,P1,WS1
,2026-03-04T09:01:00,chart_open,,P1,WS1
C0001,not-a-time,chart_open,,P1,WS1
C0001,2026-03-04T09:02:00,chart_open,bogus,P1,WS1
C0001,2026-03-04T09:00:00,chart_open,,P1,WS1
C0001,2026-03-04T09:03:00,auto_message,exclude,P1,WS1
C0001,2026-03-04T09:04:00,chart_open,,P1,WS1
"""
_EXTRA_ROSTER = """C0099,Nowhere,X,physician,2.0,
C0098,Nowhere,X,physician,0.5,Mars/Base
C0010,Family Medicine,Family Medicine,APP,0.7,America/New_York
"""
_EXTRA_SCHEDULE = """clinician_id,appointment_id,start_time,duration_minutes,status
C0001,A00003185,2026-03-02T08:00:00,30,completed
C0001,AX1,2026-03-02T25:00:00,20,completed
C0001,AX2,2026-03-02T09:00:00,0,completed
C0001,AX3,2026-03-10T23:50:00,30,Canceled
"""


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, Path]:
    """The sample (plus a little bad input) run through the pipeline, and its staged reference."""
    from wow_metrics.pipeline import run, stage_reference, start_run

    root = tmp_path_factory.mktemp("contracts")
    landing = root / "landing"
    shutil.copytree(SAMPLE_LANDING, landing)
    extra = landing / "audit" / "canonical" / "extra"
    extra.mkdir(parents=True)
    (extra / "bad_rows.csv").write_text(_EXTRA_EVENTS)
    (extra / "bad_rows_copy.csv").write_text(_EXTRA_EVENTS)
    (extra / "broken.csv.gz").write_bytes(b"not gzip at all")
    with (landing / "reference" / "roster.csv").open("a") as fh:
        fh.write(_EXTRA_ROSTER)
    (landing / "reference" / "schedule" / "schedule_zz.csv").write_text(_EXTRA_SCHEDULE)
    # Its bad reference rows are many for so small a sample (2 of 14 roster rows, 2 of 4 in
    # schedule_zz.csv): allowed here, so the run publishes them for the checks to see.
    with (landing / "wow.yaml").open("a") as fh:
        fh.write("max_reference_reject_share: 0.6\n")

    warehouse = root / "warehouse"
    run(landing, warehouse)
    # run() removes its scratch folder, so stage the reference once more on its own.
    ctx = start_run(landing, root / "staging_only")
    stage_reference(ctx)
    reference = root / "reference"
    shutil.copytree(ctx.work_dir / "reference", reference)
    shutil.rmtree(root / "staging_only")
    return {"warehouse": warehouse, "db": warehouse / "wow.duckdb", "reference": reference,
            "events_glob": str(warehouse / "lake" / "events" / "bucket=*" / "*.parquet")}


@pytest.fixture(scope="module")
def checks_db(built, tmp_path_factory):
    """A read-write copy of the warehouse, with the lake events and accepted roster/schedule."""
    path = tmp_path_factory.mktemp("checks") / "checks.duckdb"
    shutil.copy(built["db"], path)
    con = duckdb.connect(str(path))
    install_macros(con)  # the invariants state shared rules with the staging models' macros
    con.execute("create table canonical_events as select * "
                "from read_parquet($g, hive_partitioning = false)", {"g": built["events_glob"]})
    con.execute("create table lake_extract_rows as select source_file, count(*) as lake_rows "
                "from canonical_events group by source_file")
    for table in ("roster", "schedule"):
        con.execute(f"create table {table} as select * exclude (reject_reason, is_replaced) "
                    "from read_parquet($p) where reject_reason is null and not is_replaced",
                    {"p": str(built["reference"] / f"stg_{table}.parquet")})
        con.execute(f"create table stg_{table} as select * from read_parquet($p)",
                    {"p": str(built["reference"] / f"stg_{table}.parquet")})
    yield con
    con.close()


def _describe(con, sql: str) -> list[tuple[str, str]]:
    return [(r[0], r[1]) for r in con.execute(f"describe {sql}").fetchall()]


def _contract_columns(table: str) -> list[tuple[str, str]]:
    return [(c.name, c.type) for c in CONTRACTS[table].columns]


def test_every_table_has_a_valid_contract():
    assert set(CONTRACTS) == EXPECTED_TABLES
    for contract in CONTRACTS.values():
        comments = column_comments(contract)
        assert list(comments) == [c.name for c in contract.columns]
        for col in contract.columns:
            assert comments[col.name].startswith(col.definition)
            assert (f"Unit: {col.unit}." in comments[col.name]) == bool(col.unit)


def test_every_published_table_has_a_contract():
    assert set(PUBLISHED_TABLES) <= set(CONTRACTS)
    assert set(CONTRACTS) - set(PUBLISHED_TABLES) == UNPUBLISHED


@pytest.mark.parametrize("patch, message", [
    ({"colour": "red"}, "Extra inputs"),
    ({"description": "Days of clinicians."}, "One row per"),
    ({"grain": ["clinician_id", "nowhere"]}, "not columns"),
    ({"invariants": [{"name": "x", "severity": "fatal", "description": "d", "sql": "select 1"}]},
     "severity"),
    ({"invariants": [{"name": "x", "severity": "critical", "description": "d",
                      "sql": "select * from ehr_time_by_clinician_period"}]}, "does not read"),
])
def test_load_rejects_bad_contracts(tmp_path, patch, message):
    import yaml

    source = Path(__file__).resolve().parents[2] / "schemas" / "contracts" / f"{DAY}.yml"
    data = {**yaml.safe_load(source.read_text()), **patch}
    path = tmp_path / f"{DAY}.yml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ContractError, match=message):
        load_contract(path)


def test_check_rules():
    with pytest.raises(ValueError, match="exactly one"):
        Check.model_validate({"not_null": True, "min": 0})
    with pytest.raises(ValueError, match="severity"):
        Check.model_validate({"min": 0, "severity": "fatal"})
    with pytest.raises(ValueError, match="single-column grain"):
        contract = CONTRACTS[DAY].model_dump(by_alias=True)
        contract["columns"][0]["checks"] = [{"unique": True}]
        type(CONTRACTS[DAY]).model_validate(contract)
    assert Check.model_validate({"in": ["a", "b"]}).bad_rows_sql("t", "c") == (
        "select * from t where \"c\" not in ('a', 'b')")


@pytest.mark.parametrize("table", sorted(set(PUBLISHED_TABLES) & set(CONTRACTS)))
def test_published_columns_match_contract(built, table):
    with duckdb.connect(str(built["db"]), read_only=True) as con:
        assert _describe(con, table) == _contract_columns(table)


def test_lake_event_columns_match_contract(built):
    con = duckdb.connect()
    one_file = sorted(Path(built["warehouse"]).glob("lake/events/bucket=*/*.parquet"))[0]
    assert _describe(con, f"select * from read_parquet('{one_file}', hive_partitioning = false)") \
        == _contract_columns("canonical_events")
    assert _describe(con, f"select * from read_parquet('{built['events_glob']}', "
                          "hive_partitioning = false)") == _contract_columns("canonical_events")


@pytest.mark.parametrize("table", ["roster", "schedule"])
def test_staged_reference_columns_match_contract(built, table):
    con = duckdb.connect()
    staged = _describe(con, f"select * from read_parquet('{built['reference']}/stg_{table}.parquet')")
    assert [c for c in staged if c[0] not in STAGING_BOOKKEEPING] == _contract_columns(table)


@pytest.mark.parametrize("table, invariant", INVARIANTS,
                         ids=[f"{t}.{i.name}" for t, i in INVARIANTS])
def test_invariant_holds_on_sample(checks_db, table, invariant):
    bad = checks_db.execute(invariant.sql).fetchall()
    if invariant.severity == "critical":
        assert bad == [], f"{table}.{invariant.name}: {bad[:5]}"


@pytest.mark.parametrize("table, check_id, severity, sql", COLUMN_CHECKS,
                         ids=[f"{t}.{cid}" for t, cid, _, _ in COLUMN_CHECKS])
def test_column_check_holds_on_sample(checks_db, table, check_id, severity, sql):
    bad = checks_db.execute(sql).fetchall()
    if severity == "critical":
        assert bad == [], f"{table}.{check_id}: {bad[:5]}"


def test_every_critical_invariant_has_a_mutation():
    assert sorted(i.name for _, i in CRITICAL) == sorted(MUTATIONS)


def _gate(con, table: str, engine: str = "gx") -> dict[str, object]:
    """The table's checks, as the publication gate runs them, by '<table>.<check>': with GX and
    DuckDB (the default), or every check by DuckDB (engine 'duckdb', WOW_GATE_ENGINE=duckdb)."""
    if engine == "duckdb":
        from wow_metrics.gate_checks import run_in_duckdb as run_suites
    else:
        from wow_metrics.gx_process import run_suites

    return {f"{o.table_name}.{o.check_name}": o for o in run_suites(con, CONTRACTS, [table])}


def _planted(con, table: str, mutation: str, engine: str = "gx") -> dict[str, object]:
    con.begin()
    try:
        con.execute(mutation)
        return _gate(con, table, engine)
    finally:
        con.rollback()


@pytest.mark.parametrize("engine", ["gx", "duckdb"])
@pytest.mark.parametrize("table", sorted(CONTRACTS))
def test_sample_passes_every_suite(checks_db, table, engine):
    outcomes = _gate(checks_db, table, engine)
    contract = CONTRACTS[table]
    n_checks = 1 + sum(len(c.all_checks()) for c in contract.columns) + len(contract.invariants)
    assert len(outcomes) == n_checks  # every contract check ran once, by one mechanism
    failed = {k: (o.observed_value, o.examples) for k, o in outcomes.items()
              if not o.success and o.severity == "critical"}
    assert failed == {}


@pytest.mark.parametrize("table, invariant", CRITICAL, ids=[f"{t}.{i.name}" for t, i in CRITICAL])
def test_invariant_catches_a_planted_violation(checks_db, table, invariant):
    from wow_metrics.validate import gate_report

    outcomes = _planted(checks_db, table, MUTATIONS[invariant.name])
    name = f"{table}.{invariant.name}"
    hit = outcomes[name]
    assert not hit.success and hit.severity == "critical" and hit.failing_rows >= 1, hit
    assert hit.expectation == "duckdb_audit" and hit.examples  # run by DuckDB, not GX
    assert name in gate_report(outcomes.values()).critical  # this is what blocks publication


def _check_mutation(table: str, column: str, check: Check, col_type: str,
                    row: str = "true") -> str | None:
    """A statement breaking `check` in the first row matching `row`."""
    where = _first(table, row)
    if check.not_null:
        return f'update {table} set "{column}" = null where {where}'
    if check.unique:
        return (f'update {table} set "{column}" = (select "{column}" from {table} '
                f"where rowid = (select max(rowid) from {table})) where {where}")
    if check.between is not None:
        return f'update {table} set "{column}" = {check.between[1] + 1} where {where}'
    if check.min is not None:
        return f'update {table} set "{column}" = {check.min - 1} where {where}'
    if col_type == "VARCHAR":
        return f"update {table} set \"{column}\" = '__not_allowed__' where {where}"
    return None


CRITICAL_CHECKS = [(t, col.name, chk) for t, c in CONTRACTS.items() for col in c.columns
                   for chk in col.all_checks() if chk.severity == "critical"]


@pytest.mark.parametrize("table, column, check", CRITICAL_CHECKS,
                         ids=[f"{t}.{c}.{k.kind}" for t, c, k in CRITICAL_CHECKS])
def test_column_check_catches_a_planted_violation(checks_db, table, column, check):
    col_type = CONTRACTS[table].column(column).type
    mutation = _check_mutation(table, column, check, col_type)
    # A critical check nothing can break is untested: give _check_mutation a way to break it.
    assert mutation is not None, f"no planted violation for {check.kind} on {col_type}"
    outcomes = _planted(checks_db, table, mutation)
    hit = outcomes[f"{table}.{column}.{check.kind}"]
    assert not hit.success and hit.severity == "critical" and hit.failing_rows >= 1, hit
    in_duckdb = CONTRACTS[table].validate_in == "duckdb"
    assert hit.expectation == ("duckdb_audit" if in_duckdb
                               else f"expect_column_values_to_{_GX_KIND[check.kind]}")
    assert hit.examples  # the gate's result format still carries the first bad values
    if check.between is not None and not in_duckdb:
        assert check.between[1] + 1 in hit.examples
    # DuckDB alone (WOW_GATE_ENGINE=duckdb, the engine of the tests not about the gate) finds
    # the same bad rows as GX: one rule, two engines that agree.
    alone = _planted(checks_db, table, mutation, "duckdb")[f"{table}.{column}.{check.kind}"]
    assert (alone.success, alone.failing_rows, alone.severity) == \
        (hit.success, hit.failing_rows, hit.severity)
    assert alone.expectation == "duckdb_audit" and alone.examples


_GX_KIND = {"not_null": "not_be_null", "unique": "be_unique", "between": "be_between",
            "min": "be_between", "in": "be_in_set"}


class _CountingConnection:
    """A DuckDB connection that records each statement it runs."""

    def __init__(self, con):
        self.con, self.statements = con, []

    def execute(self, sql, *args):
        self.statements.append(sql)
        return self.con.execute(sql, *args)


def test_lake_column_checks_read_the_lake_once_and_a_failing_one_still_shows_rows(checks_db):
    from wow_metrics.gx_process import run_suites

    contract = CONTRACTS["canonical_events"]
    row_checks = [(col.name, chk) for col in contract.columns for chk in col.all_checks()
                  if not chk.unique]
    assert len(row_checks) >= 8
    counting = _CountingConnection(checks_db)
    outcomes = {o.check_name: o for o in run_suites(counting, CONTRACTS, ["canonical_events"])}
    assert all(outcomes[f"{c}.{k.kind}"].success for c, k in row_checks)
    # One scan answers every per-row column check; none ran its own query.
    per_check = [q for q in counting.statements
                 if any(f"from ({chk.bad_rows_sql('canonical_events', c)})" in q
                        for c, chk in row_checks)]
    assert per_check == []
    assert sum(" filter (where " in q for q in counting.statements) == 1

    checks_db.begin()
    try:
        checks_db.execute("update canonical_events set action = null "
                          "where source_line = (select min(source_line) from canonical_events)")
        counting = _CountingConnection(checks_db)
        outcomes = {o.check_name: o for o in run_suites(counting, CONTRACTS, ["canonical_events"])}
    finally:
        checks_db.rollback()
    hit = outcomes["action.not_null"]
    assert not hit.success and hit.failing_rows >= 1 and hit.examples
    assert all(o.success for name, o in outcomes.items()
               if name != "action.not_null" and o.severity == "critical")


@pytest.mark.parametrize("engine", ["gx", "duckdb"])
@pytest.mark.parametrize("change", ["drop column is_weekend", "rename column events to n_events",
                                    "add column extra INTEGER"])
def test_a_changed_column_list_fails_the_column_list(checks_db, engine, change):
    outcomes = _planted(checks_db, DAY, f"alter table {DAY} {change}", engine)
    assert not outcomes[f"{DAY}.columns"].success
    assert _gate(checks_db, DAY, engine)[f"{DAY}.columns"].success  # rolled back: passes


def test_tables_doc_is_generated_from_the_contracts():
    from wow_metrics.contracts import DOCS_PAGE, render_markdown

    assert DOCS_PAGE.read_text(encoding="utf-8") == render_markdown(CONTRACTS), \
        "docs/tables.md is stale: run `python -m wow_metrics.contracts`"
    for name, contract in CONTRACTS.items():
        assert f"## `{name}`" in DOCS_PAGE.read_text(encoding="utf-8")
        assert all(f"| `{c.name}` |" in DOCS_PAGE.read_text(encoding="utf-8")
                   for c in contract.columns)


def test_the_gate_makes_no_network_call(checks_db, monkeypatch):
    """GX runs offline: any socket connection during a validation fails the test."""
    import socket

    def refuse(*args, **kwargs):
        raise AssertionError(f"network call during validation: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    outcomes = _gate(checks_db, DAY)
    assert outcomes and all(o.success or o.severity == "warning" for o in outcomes.values())


def test_the_report_shows_gx_results_and_duckdb_audits_side_by_side(checks_db, tmp_path):
    from wow_metrics.gx_process import run_suites

    docs = tmp_path / "docs"
    checks_db.begin()
    try:
        checks_db.execute(MUTATIONS["categories_sum_to_ehr"])
        checks_db.execute(f"update {DAY} set events = null where {_first(DAY)}")
        outcomes = run_suites(checks_db, CONTRACTS, [DAY, "canonical_events"], docs_dir=docs)
    finally:
        checks_db.rollback()
    failed = {o.check_name: o.expectation for o in outcomes if not o.success}
    assert failed["categories_sum_to_ehr"] == "duckdb_audit"
    assert failed["events.not_null"] == "expect_column_values_to_not_be_null"
    page = (docs / "index.html").read_text(encoding="utf-8")
    # One page a reader opens: both failures, the audit's rule and query, a link to GX's pages.
    assert f"{DAY}.categories_sum_to_ehr" in page and f"{DAY}.events.not_null" in page
    assert "inbox + notes + orders + chart_review + other minutes equal ehr_minutes" in page
    assert "inbox_minutes + notes_minutes" in page  # the audit's SQL, to paste into DuckDB
    assert page.count("FAIL") >= 4  # each failure in the failed list and in its table's list
    assert 'href="gx/index.html"' in page and (docs / "gx" / "index.html").is_file()
    gx_pages = list((docs / "gx" / "validations" / DAY).rglob("*.html"))
    assert len(gx_pages) == 1  # GX's own page of the day table's expectations


def test_build_audits_state_only_what_no_contract_can():
    """One mechanism per rule: a rule over contracted tables is a contract invariant (the gate
    runs it); a sql/audits file exists only for a rule that needs a table of the build that no
    contract describes, and it restates no invariant."""
    import re

    from wow_metrics.sqlfiles import SQL_ROOT

    invariant_sql = {" ".join(i.sql.split()) for _, i in INVARIANTS}
    audits = sorted((SQL_ROOT / "audits").glob("*.sql"))
    assert audits
    for path in audits:
        sql = path.read_text(encoding="utf-8")
        read = set(re.findall(r"\b(?:from|join)\s+([a-z_][a-z0-9_]*)", sql))
        ctes = set(re.findall(r"\b([a-z_][a-z0-9_]*)\s+as\s*\(", sql))
        assert read - ctes - set(CONTRACTS), f"{path.name} reads only contracted tables: " \
            "state it as an invariant of their contract"
        assert " ".join(sql.split()) not in invariant_sql
