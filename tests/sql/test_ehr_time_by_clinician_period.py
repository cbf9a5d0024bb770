"""Golden cases for `ehr_time_by_clinician_period` (SPEC section 6).

Day figures are built from short event chains whose minutes are computed by hand (SPEC 4-5), and
the period figures from those, again by hand. Calendar (2026): Feb has 28 days, Mar 31, Apr 30;
Mar 1 is a Sunday, Mar 2 a Monday, Mar 7 a Saturday. New York is UTC-5 until Mar 8, then UTC-4.
"""

from __future__ import annotations

from typing import Any

import pytest

NY = "America/New_York"


def ev(cid: str, when: str, action: str = "x", category: str | None = None) -> dict[str, Any]:
    return {"clinician_id": cid, "event_time": when, "action": action, "category": category}


def epic(uid: str, instant: str, metric: str) -> dict[str, Any]:
    return {"USER_ID": uid, "ACCESS_INSTANT": instant, "METRIC_NAME": metric}


def appt(cid: str, aid: str, start: str, minutes: float, status: str = "scheduled") -> dict[str, Any]:
    return {"clinician_id": cid, "appointment_id": aid, "start_time": start,
            "duration_minutes": minutes, "status": status}


def check_period(pub: Any, cid: str, period_start: str, **expected: Any) -> dict[str, Any]:
    """Assert the period row exists and every given column equals its expected value
    (None means SQL NULL); all mismatches are reported together."""
    row = pub.period(cid, period_start)
    assert row is not None, f"no period row for {cid} {period_start}"
    problems = []
    for column, want in expected.items():
        got = row[column]
        if want is None or isinstance(want, bool):
            ok = got is want
        elif isinstance(want, str):
            ok = got == want
        else:
            ok = got is not None and got == pytest.approx(want, rel=1e-12, abs=1e-12)
        if not ok:
            problems.append(f"{column}: expected {want!r}, got {got!r}")
    assert not problems, f"{cid} {period_start}: " + "; ".join(problems)
    return row


@pytest.fixture
def march(models):
    """Clinician 'p' (FTE 0.8, New York) over March and April 2026, plus 'nofte' and 'feb'.

    'p', March:
      Mon 03-02, appointment 09:00+180. Events 08:55 inbox, 09:00 inbox, 09:05 notes, 09:10 other;
        17:00 inbox, 17:05 notes, 17:10 orders, 17:15 other. -> ehr 30: inbox 15, notes 10,
        orders 5; in schedule 10 (09:00-09:10); window 08:30-12:30, so 17:00-17:15 (15) is outside;
        pajama 0; 8 events.
      Tue 03-03, appointment 13:00+180 (arrived); a canceled one on 03-04. Epic at 13:00 EST:
        Medication order signed, 13:04 In Basket message viewed, 13:06 Notes viewed.
        -> ehr 6: orders 4 (all prescription), inbox 2; all in schedule; 3 events.
      Sat 03-07, no appointment: 10:00 notes, 10:05 notes, 10:10 other -> notes 10, pajama 10,
        outside window 10, unscheduled 10; 3 events.
      Fri 03-20: one event only -> 1 event, ehr 0 (not an active day).
      Totals: events 15, days_active 3, scheduled_days 2, appointments 2, scheduled 6 h,
        ehr 46 min, inbox 17, notes 20, orders 9, prescriptions 4, in_schedule 16, wow 30,
        outside window 25, unscheduled 10, pajama 10.
    'p', April: Wed 04-01 12:00 notes, 12:05 other -> ehr 5, notes 5, no appointments.
    'nofte' (roster row without FTE, department Peds): Tue 03-10 appointment 10:00+60, active
      10:00-10:04 (4 min, in schedule).
    'feb' (no roster row): Tue 02-10 12:00 -> 12:05, 5 min.
    """
    models.config(default_timezone=NY)
    models.roster([
        {"clinician_id": "p", "department": "FM", "specialty": "Family Medicine", "role": "MD",
         "clinical_fte": 0.8, "timezone": NY},
        {"clinician_id": "nofte", "department": "Peds", "specialty": "Pediatrics", "role": "NP",
         "clinical_fte": None, "timezone": None},
    ])
    models.schedule([
        appt("p", "PA", "2026-03-02 09:00", 180, "completed"),
        appt("p", "PB", "2026-03-03 13:00", 180, "arrived"),
        appt("p", "PX", "2026-03-04 09:00", 60, "canceled"),
        appt("nofte", "N1", "2026-03-10 10:00", 60),
    ])
    models.canonical([
        ev("p", "2026-03-02T08:55:00-05:00", "a", "inbox"),
        ev("p", "2026-03-02T09:00:00-05:00", "a", "inbox"),
        ev("p", "2026-03-02T09:05:00-05:00", "b", "notes"),
        ev("p", "2026-03-02T09:10:00-05:00", "c", "other"),
        ev("p", "2026-03-02T17:00:00-05:00", "a", "inbox"),
        ev("p", "2026-03-02T17:05:00-05:00", "b", "notes"),
        ev("p", "2026-03-02T17:10:00-05:00", "d", "orders"),
        ev("p", "2026-03-02T17:15:00-05:00", "c", "other"),
        ev("p", "2026-03-07T10:00:00-05:00", "b", "notes"),
        ev("p", "2026-03-07T10:05:00-05:00", "b", "notes"),
        ev("p", "2026-03-07T10:10:00-05:00", "c", "other"),
        ev("p", "2026-03-20T12:00:00-04:00", "c", "other"),
        ev("p", "2026-04-01T12:00:00-04:00", "b", "notes"),
        ev("p", "2026-04-01T12:05:00-04:00", "c", "other"),
        ev("nofte", "2026-03-10T10:00:00-04:00", "a", "inbox"),
        ev("nofte", "2026-03-10T10:04:00-04:00", "c", "other"),
        ev("feb", "2026-02-10T12:00:00-05:00", "b", "notes"),
        ev("feb", "2026-02-10T12:05:00-05:00", "c", "other"),
    ])
    models.epic([
        epic("p", "2026-03-03 18:00:00", "Medication order signed"),
        epic("p", "2026-03-03 18:04:00", "In Basket message viewed"),
        epic("p", "2026-03-03 18:06:00", "Notes viewed"),
    ])
    return models.run()


def test_month_sums_and_hours(march):
    check_period(
        march, "p", "2026-03-01",
        department="FM", specialty="Family Medicine", role="MD", clinical_fte=0.8,
        period_days=31, days_active=3, scheduled_days=2, appointments=2, events=15,
        scheduled_hours=6.0, ehr_hours=46 / 60, inbox_hours=17 / 60, notes_hours=20 / 60,
        orders_hours=9 / 60, chart_review_hours=0.0, other_hours=0.0,
        prescriptions_hours=4 / 60, in_schedule_hours=16 / 60, wow_hours=30 / 60,
        unscheduled_day_hours=10 / 60, pajama_hours=10 / 60,
    )


def test_month_outside_schedule_window_hours(march):
    check_period(march, "p", "2026-03-01", outside_schedule_window_hours=25 / 60,
                 outside_schedule_window_minutes_per_sched_day=12.5)


def test_per_8_scheduled_hours(march):
    # hours x 8 / 6 scheduled hours
    check_period(
        march, "p", "2026-03-01",
        ehr_time8=46 / 60 * 8 / 6,   # 1.02222...
        wow8=30 / 60 * 8 / 6,        # 0.66666...
        ib_time8=17 / 60 * 8 / 6,
        note_time8=20 / 60 * 8 / 6,
        presc_time8=4 / 60 * 8 / 6,
        order_time8=9 / 60 * 8 / 6,
        pajama_time8=10 / 60 * 8 / 6,
    )


def test_per_fte_week(march):
    # The data covers 2026-02-10 ('feb') to 2026-04-01 ('p'): all of March, so
    # hours / (0.8 x 31 / 7)
    weeks = 0.8 * 31 / 7
    check_period(
        march, "p", "2026-03-01", coverage_days=31, is_complete_period=True,
        ehr_hours_per_fte_week=46 / 60 / weeks,
        wow_hours_per_fte_week=30 / 60 / weeks,
        pajama_hours_per_fte_week=10 / 60 / weeks,
        inbox_hours_per_fte_week=17 / 60 / weeks,
        notes_hours_per_fte_week=20 / 60 / weeks,
    )


def test_per_scheduled_day_includes_unscheduled_days(march):
    # total minutes of the month (the Saturday included) / 2 scheduled days
    check_period(
        march, "p", "2026-03-01",
        ehr_minutes_per_sched_day=23.0,
        pajama_minutes_per_sched_day=5.0,
        inbox_minutes_per_sched_day=8.5,
        notes_minutes_per_sched_day=10.0,
    )


def test_undivided_attention(march):
    check_period(march, "p", "2026-03-01", undivided_attention_pct=100 * (1 - (16 / 60) / 6))


def test_period_without_scheduled_hours_has_null_ratios(march):
    # April is covered up to its 1st only (the latest event): a rate over that one day, not
    # diluted by the 29 days without data.
    weeks = 0.8 * 1 / 7
    check_period(
        march, "p", "2026-04-01",
        period_days=30, coverage_days=1, is_complete_period=False, days_active=1, scheduled_days=0, appointments=0, events=2,
        scheduled_hours=0.0, ehr_hours=5 / 60, notes_hours=5 / 60, wow_hours=5 / 60,
        pajama_hours=0.0, unscheduled_day_hours=5 / 60,
        ehr_time8=None, wow8=None, ib_time8=None, note_time8=None, presc_time8=None,
        order_time8=None, pajama_time8=None,
        ehr_minutes_per_sched_day=None, pajama_minutes_per_sched_day=None,
        inbox_minutes_per_sched_day=None, notes_minutes_per_sched_day=None,
        outside_schedule_window_minutes_per_sched_day=None,
        undivided_attention_pct=None,
        ehr_hours_per_fte_week=5 / 60 / weeks, notes_hours_per_fte_week=5 / 60 / weeks,
        wow_hours_per_fte_week=5 / 60 / weeks, pajama_hours_per_fte_week=0.0,
        inbox_hours_per_fte_week=0.0,
    )
    assert [str(r["period_start"]) for r in march.query(
        "select period_start from ehr_time_by_clinician_period where clinician_id = 'p' "
        "order by period_start")] == ["2026-03-01", "2026-04-01"]


def test_roster_row_without_fte(march):
    """One scheduled hour (under min_scheduled_hours, which gates rollups only): the per-8-hour
    columns are still computed; per-FTE columns are NULL."""
    check_period(
        march, "nofte", "2026-03-01",
        department="Peds", clinical_fte=None, timezone=NY, period_days=31,
        days_active=1, scheduled_days=1, appointments=1, scheduled_hours=1.0,
        ehr_hours=4 / 60, inbox_hours=4 / 60, in_schedule_hours=4 / 60, wow_hours=0.0,
        ehr_time8=4 / 60 * 8, ib_time8=4 / 60 * 8, wow8=0.0, note_time8=0.0,
        undivided_attention_pct=100 * (1 - 4 / 60),
        ehr_minutes_per_sched_day=4.0, inbox_minutes_per_sched_day=4.0,
        ehr_hours_per_fte_week=None, wow_hours_per_fte_week=None,
        pajama_hours_per_fte_week=None, inbox_hours_per_fte_week=None,
        notes_hours_per_fte_week=None,
    )


def test_february_and_clinician_without_roster_row(march):
    check_period(
        march, "feb", "2026-02-01",
        department="unknown", clinical_fte=None, timezone=NY, period_days=28,
        coverage_days=19, is_complete_period=False,  # 02-10 (the first event) to 02-28
        days_active=1, scheduled_days=0, appointments=0, events=2,
        ehr_hours=5 / 60, notes_hours=5 / 60, scheduled_hours=0.0,
        ehr_time8=None, undivided_attention_pct=None, ehr_minutes_per_sched_day=None,
        ehr_hours_per_fte_week=None, wow_hours_per_fte_week=None,
        pajama_hours_per_fte_week=None, inbox_hours_per_fte_week=None,
        notes_hours_per_fte_week=None,
    )
    assert march.period("feb", "2026-03-01") is None


def test_iso_weeks(models):
    """period: week. Sun 03-01 belongs to the week of Mon 02-23; Mon 03-02 and Sun 03-08 to the
    week of 03-02; Mon 03-09 starts a new week.

    Week 03-02: Mon 03-02 12:00-12:03 EST inside a 12:00+60 appointment (3 min);
    Sun 03-08 12:00-12:04 EDT (4 min, pajama, unscheduled day). FTE 1.0.
    """
    models.config(default_timezone=NY, period="week")
    models.roster([{"clinician_id": "wk", "department": "IM", "clinical_fte": 1.0,
                     "timezone": NY}])
    models.schedule([appt("wk", "W1", "2026-03-02 12:00", 60)])
    models.canonical([
        ev("wk", "2026-03-01T12:00:00-05:00", "b", "notes"),
        ev("wk", "2026-03-01T12:05:00-05:00", "c", "other"),
        ev("wk", "2026-03-02T12:00:00-05:00", "a", "inbox"),
        ev("wk", "2026-03-02T12:03:00-05:00", "c", "other"),
        ev("wk", "2026-03-08T12:00:00-04:00", "b", "notes"),
        ev("wk", "2026-03-08T12:04:00-04:00", "c", "other"),
        ev("wk", "2026-03-09T12:00:00-04:00", "b", "notes"),
        ev("wk", "2026-03-09T12:02:00-04:00", "c", "other"),
    ])
    pub = models.run()
    starts = [str(r["period_start"]) for r in pub.query(
        "select period_start from ehr_time_by_clinician_period where clinician_id = 'wk' "
        "order by period_start")]
    assert starts == ["2026-02-23", "2026-03-02", "2026-03-09"]
    # The data covers Sun 03-01 to Mon 03-09: one day of the first and last weeks.
    check_period(pub, "wk", "2026-02-23", period_days=7, coverage_days=1,
                 is_complete_period=False, days_active=1, scheduled_days=0,
                 events=2, ehr_hours=5 / 60, notes_hours=5 / 60, pajama_hours=5 / 60,
                 ehr_hours_per_fte_week=5 / 60 * 7, ehr_time8=None)
    check_period(
        pub, "wk", "2026-03-02",
        period_days=7, coverage_days=7, is_complete_period=True, days_active=2, scheduled_days=1, appointments=1, events=4,
        scheduled_hours=1.0, ehr_hours=7 / 60, inbox_hours=3 / 60, notes_hours=4 / 60,
        in_schedule_hours=3 / 60, wow_hours=4 / 60, pajama_hours=4 / 60,
        unscheduled_day_hours=4 / 60,
        ehr_time8=7 / 60 * 8, wow8=4 / 60 * 8, ib_time8=3 / 60 * 8, note_time8=4 / 60 * 8,
        pajama_time8=4 / 60 * 8, order_time8=0.0, presc_time8=0.0,
        ehr_hours_per_fte_week=7 / 60, wow_hours_per_fte_week=4 / 60,
        pajama_hours_per_fte_week=4 / 60, inbox_hours_per_fte_week=3 / 60,
        notes_hours_per_fte_week=4 / 60,
        ehr_minutes_per_sched_day=7.0, pajama_minutes_per_sched_day=4.0,
        inbox_minutes_per_sched_day=3.0, notes_minutes_per_sched_day=4.0,
        undivided_attention_pct=100 * (1 - 3 / 60),
    )
    check_period(pub, "wk", "2026-03-09", period_days=7, coverage_days=1, days_active=1,
                 ehr_hours=2 / 60, ehr_hours_per_fte_week=2 / 60 * 7)
