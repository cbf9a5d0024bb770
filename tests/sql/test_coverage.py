"""Coverage end to end (SPEC 6, issue 21): a nightly warehouse part-way through a month, and a
missed extract. One small run; the rules themselves are tested on given rows in test_rollups.py.

Clinician 'a' (FTE 0.5, New York) works 10 minutes on each weekday of February 2026 but the
11th, whose extract never came (nobody has an event that day: a gap), and on 2-4 March; the
data ends on Wednesday 4 March, a nightly warehouse on the 5th."""

from __future__ import annotations

import datetime as dt

import pytest

NY = "America/New_York"


def _weekdays(start: dt.date, end: dt.date) -> list[dt.date]:
    days, day = [], start
    while day <= end:
        if day.weekday() < 5:
            days.append(day)
        day += dt.timedelta(days=1)
    return days


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    from conftest import Landing

    root = tmp_path_factory.mktemp("coverage")
    landing = Landing(root / "landing", root / "warehouse")
    landing.config(default_timezone=NY)
    landing.roster([{"clinician_id": "a", "department": "FM", "clinical_fte": "0.5",
                     "timezone": NY}])
    days = [d for d in _weekdays(dt.date(2026, 2, 2), dt.date(2026, 3, 4))
            if d != dt.date(2026, 2, 11)]
    rows = []
    for d in days:
        for minute in range(0, 11, 2):  # 10:00 .. 10:10, every 2 minutes: 10 active minutes
            rows.append({"clinician_id": "a", "event_time": f"{d}T10:{minute:02d}:00",
                         "action": "Chart opened"})
    landing.canonical(rows)
    return landing.run()


def test_the_partial_month_is_a_rate_over_the_days_with_data(published):
    feb, mar = published.period("a", "2026-02-01"), published.period("a", "2026-03-01")
    # February: covered from its first event (Mon 2 Feb) to its end: 27 days; March: 1-4 March.
    assert (feb["coverage_days"], feb["is_complete_period"]) == (27, False)
    assert (mar["coverage_days"], mar["is_complete_period"]) == (4, False)
    # 19 weekdays (20 less the 11th) x 10 min in February, 3 in March; per FTE week over the
    # covered days
    assert feb["ehr_hours"] == pytest.approx(190 / 60)
    assert mar["ehr_hours"] == pytest.approx(30 / 60)
    assert feb["ehr_hours_per_fte_week"] == pytest.approx((190 / 60) / (0.5 * 27 / 7))
    assert mar["ehr_hours_per_fte_week"] == pytest.approx(0.5 / (0.5 * 4 / 7))
    # the old reading (divide by all 31 days of March) would have been 4/31 of the rate
    assert mar["ehr_hours_per_fte_week"] * 4 / 31 == pytest.approx(0.5 / (0.5 * 31 / 7))


def test_a_missed_extract_is_a_gap_not_a_quiet_day(published):
    gaps = published.query("select activity_date from coverage_by_date where is_gap "
                           "order by 1")
    # the 11th, and the weekends (no event from anyone: in this one-clinician organisation
    # they are gaps too; a real organisation always has someone at work)
    assert dt.date(2026, 2, 11) in [g["activity_date"] for g in gaps]
    org = {r["period_start"]: r for r in published.table("efficiency_of_practice_by_period")}
    assert org[dt.date(2026, 2, 1)]["gap_days"] == len(
        [g for g in gaps if g["activity_date"].month == 2])
    assert org[dt.date(2026, 3, 1)]["coverage_end"] == dt.date(2026, 3, 4)
    summary = published.summary
    assert summary.coverage == (dt.date(2026, 2, 2), dt.date(2026, 3, 4))
    assert dt.date(2026, 2, 11) in summary.gap_dates
    assert any(w.startswith("coverage_by_date.no_gap_days") for w in summary.warnings)
    from wow_metrics.cli import format_summary

    assert "data: 2026-02-02 to 2026-03-04;" in format_summary(summary)
    page = (published.warehouse / "dashboard" / "index.html").read_text(encoding="utf-8")
    assert "11 Feb 2026" in page and "an extract is probably missing" in page
