"""Department and organisation rollups (SPEC 8): hand-computed quantiles and cell suppression."""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest

from wow_metrics.sqlfiles import install_macros
from wow_metrics.warehouse import discover_models, run_model

MARCH, FEB = dt.date(2026, 3, 1), dt.date(2026, 2, 1)
PARAMS = {"min_cell_size": 4, "min_scheduled_hours": 8.0,
          "wow_threshold_hours_per_fte_week": 5.0, "period": "month"}


def _period_days(start: dt.date) -> int:
    following = (start.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return (following - start).days


def _coverage(con, first: dt.date, last: dt.date, gaps: tuple[dt.date, ...] = ()) -> None:
    """coverage_by_date from `first` to `last`, the `gaps` without events."""
    con.execute("""create or replace table coverage_by_date (activity_date DATE,
        period_start DATE, events BIGINT, clinicians_with_events BIGINT, is_gap BOOLEAN)""")
    day = first
    while day <= last:
        con.execute("insert into coverage_by_date values (?, ?, ?, ?, ?)",
                    [day, day.replace(day=1), 0 if day in gaps else 10, 0 if day in gaps else 1,
                     day in gaps])
        day += dt.timedelta(days=1)


def _periods(con, rows: list[tuple]) -> None:
    """rows: (clinician, department, period_start, scheduled_hours, wow8, wow_h_per_fte_week).
    coverage_days is counted from coverage_by_date, as the period model does."""
    con.execute("""create or replace table ehr_time_by_clinician_period (
        clinician_id VARCHAR, department VARCHAR, period_start DATE, period_days INTEGER,
        coverage_days INTEGER, scheduled_hours DOUBLE, ehr_time8 DOUBLE, wow8 DOUBLE,
        ib_time8 DOUBLE, note_time8 DOUBLE, pajama_time8 DOUBLE, wow_hours_per_fte_week DOUBLE,
        pajama_hours_per_fte_week DOUBLE, inbox_hours_per_fte_week DOUBLE)""")
    for c, dept, start, sched, wow8, per_fte in rows:
        covered = con.execute("select count(*) from coverage_by_date where period_start = ?",
                              [start]).fetchone()[0]
        con.execute("insert into ehr_time_by_clinician_period values "
                    "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [c, dept, start, _period_days(start), covered, sched, 2 * wow8, wow8,
                     wow8 / 2, wow8 / 4, wow8 / 5, per_fte,
                     None if per_fte is None else per_fte / 2,
                     None if per_fte is None else per_fte / 3])


def _build(rows: list[tuple], coverage: tuple = ()) -> duckdb.DuckDBPyConnection:
    """The rollups of `rows`; the data covers `coverage` = (first, last[, gap dates]), by
    default every day of the rows' months."""
    con = duckdb.connect()
    install_macros(con)
    if not coverage:
        starts = sorted({r[2] for r in rows})
        coverage = (starts[0], starts[-1] + dt.timedelta(days=_period_days(starts[-1]) - 1))
    _coverage(con, coverage[0], coverage[1], tuple(coverage[2:]))
    _periods(con, rows)
    models = {m.name: m for m in discover_models("publication")}
    for name in ("ehr_time_by_department_period", "efficiency_of_practice_by_period"):
        run_model(con, models[name], PARAMS)
    return con


# Above the cell size (5 eligible), at it (4), below it (3); one ineligible clinician in each.
ROWS = (
    [(f"A{i}", "Above", MARCH, 40.0, w, f) for i, (w, f) in
     enumerate([(1, 2.0), (2, 4.0), (3, 6.0), (4, 8.0), (10, None)])]
    + [("A9", "Above", MARCH, 7.9, 99, 99.0)]
    + [(f"B{i}", "At", MARCH, 8.0, w, 1.0) for i, w in enumerate([1, 2, 3, 4])]
    + [("B9", "At", MARCH, 0.0, 50, 50.0)]
    + [(f"C{i}", "Below", MARCH, 20.0, w, 1.0) for i, w in enumerate([5, 6, 7])]
    + [(f"A{i}", "Above", FEB, 40.0, w, 1.0) for i, w in enumerate([2, 2, 2, 2, 2])]
)


@pytest.fixture(scope="module")
def rollups():
    con = _build(ROWS)
    yield con
    con.close()


def _dept(con, dept: str, period=MARCH) -> dict:
    cur = con.execute("select * from ehr_time_by_department_period "
                      "where department = ? and period_start = ?", [dept, period])
    names = [d[0] for d in cur.description]
    return dict(zip(names, cur.fetchone(), strict=True))


def test_quantiles_are_hand_computed(rollups):
    above = _dept(rollups, "Above")
    # wow8 of the 5 eligible: 1, 2, 3, 4, 10 -> quantile_cont p25 = 2, median = 3, p75 = 4
    assert (above["wow8_p25"], above["wow8_median"], above["wow8_p75"]) == (2.0, 3.0, 4.0)
    assert (above["ehr_time8_p25"], above["ehr_time8_median"], above["ehr_time8_p75"]) == \
        (4.0, 6.0, 8.0)
    # per-FTE over the 4 with an FTE: 2, 4, 6, 8 -> p25 = 2 + 0.75 * 2 = 3.5, median 5, p75 6.5
    assert (above["wow_hours_per_fte_week_p25"], above["wow_hours_per_fte_week_median"],
            above["wow_hours_per_fte_week_p75"]) == (3.5, 5.0, 6.5)
    at = _dept(rollups, "At")
    # 1, 2, 3, 4 -> p25 = 1.75, median = 2.5, p75 = 3.25 (linear interpolation)
    assert (at["wow8_p25"], at["wow8_median"], at["wow8_p75"]) == (1.75, 2.5, 3.25)


def test_suppression_at_below_and_above_the_cell_size(rollups):
    above, at, below = (_dept(rollups, d) for d in ("Above", "At", "Below"))
    assert (above["n_clinicians_measured"], above["n_clinicians"], above["is_suppressed"]) == \
        (6, 5, False)
    assert (at["n_clinicians_measured"], at["n_clinicians"], at["is_suppressed"]) == (5, 4, False)
    assert (below["n_clinicians_measured"], below["n_clinicians"], below["is_suppressed"]) == \
        (3, 3, True)
    figures = [k for k in below if k.endswith(("_p25", "_median", "_p75"))]
    assert len(figures) == 18 and all(below[k] is None for k in figures)


def test_ineligible_clinicians_are_counted_but_not_measured(rollups):
    # A9 (7.9 scheduled hours, wow8 99) and B9 (0 hours) would move every figure if included.
    assert _dept(rollups, "Above")["wow8_p75"] == 4.0
    assert _dept(rollups, "At")["wow8_p75"] == 3.25


def test_organisation_figures_and_change_from_previous_period(rollups):
    cur = rollups.execute("select * from efficiency_of_practice_by_period order by period_start")
    names = [d[0] for d in cur.description]
    feb, mar = (dict(zip(names, r, strict=True)) for r in cur.fetchall())
    # March eligible: Above 1,2,3,4,10; At 1,2,3,4; Below 5,6,7 -> 12 clinicians, median of
    # 1,1,2,2,3,3,4,4,5,6,7,10 = 3.5
    assert (mar["n_clinicians_measured"], mar["n_clinicians"], mar["is_suppressed"]) == \
        (14, 12, False)
    assert mar["wow8_median"] == 3.5
    # WOW per FTE week over 5 h among the 11 with an FTE: 6 and 8 -> 2 of 11
    assert mar["pct_clinicians_wow_over_threshold"] == pytest.approx(100 * 2 / 11)
    assert feb["wow8_median"] == 2.0 and feb["previous_period_start"] is None
    assert mar["previous_period_start"] == FEB
    assert mar["wow8_median_change"] == 1.5
    assert feb["wow8_median_change"] is None
    assert mar["pct_clinicians_wow_over_threshold_change"] == pytest.approx(100 * 2 / 11 - 0)


def test_coverage_of_complete_periods(rollups):
    cur = rollups.execute("select period_start, period_days, coverage_days, is_complete_period, "
                          "coverage_start, coverage_end, gap_days "
                          "from efficiency_of_practice_by_period order by period_start")
    assert cur.fetchall() == [
        (FEB, 28, 28, True, FEB, dt.date(2026, 2, 28), 0),
        (MARCH, 31, 31, True, MARCH, dt.date(2026, 3, 31), 0)]
    assert _dept(rollups, "Above")["coverage_days"] == 31
    assert _dept(rollups, "Above")["is_complete_period"] is True


# Five clinicians at the same level in a complete February and a March with data through the
# 16th (a nightly warehouse on 17 March): March's figures are rates, its change is withheld.
STEADY = [(f"A{i}", "Above", d, 40.0, 2 + (d == MARCH), 1.0) for i in range(5)
          for d in (FEB, MARCH)]


def test_partial_latest_period_has_no_change():
    con = _build(STEADY, (FEB, dt.date(2026, 3, 16)))
    rows = con.execute("select period_start, coverage_days, is_complete_period, coverage_end, "
                       "previous_period_start, wow8_median, wow8_median_change, "
                       "wow_hours_per_fte_week_median_change, "
                       "pct_clinicians_wow_over_threshold_change "
                       "from efficiency_of_practice_by_period order by period_start").fetchall()
    assert rows == [
        (FEB, 28, True, dt.date(2026, 2, 28), None, 2.0, None, None, None),
        (MARCH, 16, False, dt.date(2026, 3, 16), FEB, 3.0, None, None, None)]
    dept = _dept(con, "Above")
    assert (dept["coverage_days"], dept["is_complete_period"]) == (16, False)


def test_partial_first_period_has_no_change():
    """Data from 10 February: February is partial, so March (complete) is not compared with it."""
    con = _build(STEADY, (dt.date(2026, 2, 10), dt.date(2026, 3, 31)))
    rows = con.execute("select period_start, coverage_days, coverage_start, is_complete_period, "
                       "wow8_median_change from efficiency_of_practice_by_period "
                       "order by period_start").fetchall()
    assert rows == [(FEB, 19, dt.date(2026, 2, 10), False, None),
                    (MARCH, 31, MARCH, True, None)]


def test_both_periods_complete_gives_the_change():
    con = _build(STEADY)
    assert con.execute("select wow8_median_change from efficiency_of_practice_by_period "
                       "where period_start = ?", [MARCH]).fetchone() == (1.0,)


def test_gap_days_are_counted_not_hidden():
    """A date without a single event inside the coverage is a gap: counted, and the period stays
    complete (the spec's coverage runs from the first to the last date with data)."""
    gaps = (dt.date(2026, 3, 4), dt.date(2026, 3, 5))
    con = _build(STEADY, (FEB, dt.date(2026, 3, 31), *gaps))
    row = con.execute("select coverage_days, is_complete_period, gap_days, wow8_median_change "
                      "from efficiency_of_practice_by_period where period_start = ?",
                      [MARCH]).fetchone()
    assert row == (31, True, 2, 1.0)


def test_a_gap_month_has_no_change(tmp_path):
    rows = [(f"A{i}", "Above", d, 40.0, 2, 1.0) for i in range(5)
            for d in (dt.date(2026, 1, 1), MARCH)]
    con = _build(rows)
    mar = con.execute("select previous_period_start, wow8_median_change "
                      "from efficiency_of_practice_by_period where period_start = ?",
                      [MARCH]).fetchone()
    assert mar == (None, None)  # February has no row: no change is invented


def test_small_organisation_is_suppressed_whole():
    con = _build([(f"A{i}", "Above", MARCH, 40.0, 2, 1.0) for i in range(3)])
    row = con.execute("select n_clinicians, is_suppressed, wow8_median, "
                      "pct_clinicians_wow_over_threshold from efficiency_of_practice_by_period"
                      ).fetchone()
    assert row == (3, True, None, None)


def _coverage_model(day_rows: list[tuple], period: str = "month") -> list[tuple]:
    """coverage_by_date built by its model from day rows (clinician_id, activity_date, events)."""
    con = duckdb.connect()
    install_macros(con)
    con.execute("create table ehr_time_by_clinician_day (clinician_id VARCHAR, "
                "activity_date DATE, events BIGINT)")
    con.executemany("insert into ehr_time_by_clinician_day values (?, ?, ?)", day_rows)
    model = {m.name: m for m in discover_models("publication")}["coverage_by_date"]
    run_model(con, model, {"period": period})
    return con.execute("from coverage_by_date order by activity_date").fetchall()


def test_coverage_by_date_runs_from_first_to_last_event_and_flags_gaps():
    d = dt.date
    rows = _coverage_model([
        ("a", d(2026, 2, 27), 3), ("b", d(2026, 2, 27), 1),
        ("a", d(2026, 2, 26), 0),  # scheduled time only: no data, does not open the coverage
        ("b", d(2026, 3, 2), 2),
        ("a", d(2026, 3, 1), 0),   # inside the coverage, but nobody has an event: a gap
        ("b", d(2026, 3, 5), 0),   # after the last event: outside the coverage
    ])
    assert rows == [
        (d(2026, 2, 27), d(2026, 2, 1), 4, 2, False),
        (d(2026, 2, 28), d(2026, 2, 1), 0, 0, True),
        (d(2026, 3, 1), d(2026, 3, 1), 0, 0, True),
        (d(2026, 3, 2), d(2026, 3, 1), 2, 1, False),
    ]


def test_coverage_by_date_weeks_and_no_data():
    d = dt.date
    rows = _coverage_model([("a", d(2026, 3, 1), 1), ("a", d(2026, 3, 2), 1)], period="week")
    assert [(r[0], r[1]) for r in rows] == [(d(2026, 3, 1), d(2026, 2, 23)),
                                            (d(2026, 3, 2), d(2026, 3, 2))]
    assert _coverage_model([("a", d(2026, 3, 1), 0)]) == []
