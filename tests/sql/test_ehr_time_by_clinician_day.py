"""Golden cases for `ehr_time_by_clinician_day` (SPEC sections 3, 4 and 5).

Every expected figure below is computed by hand from the SPEC, in minutes. Canonical events carry
explicit UTC offsets (or `Z`) so the instants are unambiguous; Epic rows give ACCESS_INSTANT in UTC.
Calendar used (2026): Mar 2 Mon, Mar 7 Sat, Mar 8 Sun (New York springs forward, a 23-hour day),
Mar 9 Mon ... Mar 14 Sat, Nov 1 Sun (New York falls back, a 25-hour day). New York is UTC-5 until
2026-03-08 02:00 local and UTC-4 from then until 2026-11-01 02:00 EDT.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

NY = "America/New_York"
CATEGORY_COLUMNS = ("inbox_minutes", "notes_minutes", "orders_minutes", "chart_review_minutes",
                    "other_minutes")


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------

def ev(cid: str, when: str, action: str = "x", category: str | None = None,
       workstation: str | None = None, patient: str | None = None) -> dict[str, Any]:
    """A canonical event row."""
    row: dict[str, Any] = {"clinician_id": cid, "event_time": when, "action": action,
                           "category": category}
    if workstation is not None:
        row["workstation_id"] = workstation
    if patient is not None:
        row["patient_id"] = patient
    return row


def epic(uid: str, instant: str, metric: str, report: str | None = None,
         workstation: str | None = None, patient: str | None = None) -> dict[str, Any]:
    """An Epic access-log row with a UTC ACCESS_INSTANT."""
    return {"USER_ID": uid, "ACCESS_INSTANT": instant, "METRIC_NAME": metric,
            "REPORT_NAME": report, "WORKSTATION_ID": workstation, "PAT_ID": patient}


def appt(cid: str, aid: str, start: str, minutes: float, status: str = "scheduled") -> dict[str, Any]:
    return {"clinician_id": cid, "appointment_id": aid, "start_time": start,
            "duration_minutes": minutes, "status": status}


def chain(cid: str, start_utc: datetime, end_utc: datetime, step_minutes: int = 5,
          category: str | None = None) -> list[dict[str, Any]]:
    """Events every step_minutes from start_utc to end_utc inclusive, written with `Z`."""
    rows = []
    t = start_utc
    while t <= end_utc:
        rows.append(ev(cid, t.strftime("%Y-%m-%dT%H:%M:%SZ"), "step", category))
        t += timedelta(minutes=step_minutes)
    return rows


def check_day(pub: Any, cid: str, date: str, **expected: Any) -> dict[str, Any]:
    """Assert the day row exists and each given column equals its expected value.

    Also checks, on every row it looks at, that the categories sum to ehr_minutes and
    wow_minutes = ehr_minutes - in_schedule_minutes (SPEC 5). All mismatches are reported together.
    """
    row = pub.day(cid, date)
    assert row is not None, f"no day row for {cid} {date}"
    problems = []
    for column, want in expected.items():
        got = row[column]
        if isinstance(want, bool) or want is None:
            ok = got is want
        else:
            ok = got == pytest.approx(want, abs=1e-9)
        if not ok:
            problems.append(f"{column}: expected {want!r}, got {got!r}")
    category_sum = sum(row[c] for c in CATEGORY_COLUMNS)
    if category_sum != pytest.approx(row["ehr_minutes"], abs=1e-9):
        problems.append(f"categories sum to {category_sum}, ehr_minutes is {row['ehr_minutes']}")
    if row["wow_minutes"] != pytest.approx(row["ehr_minutes"] - row["in_schedule_minutes"], abs=1e-9):
        problems.append("wow_minutes != ehr_minutes - in_schedule_minutes")
    assert not problems, f"{cid} {date}: " + "; ".join(problems)
    return row


UNSCHEDULED_ZEROES = {"scheduled_minutes": 0.0, "appointments": 0, "in_schedule_minutes": 0.0}


# --------------------------------------------------------------------------------------------
# SPEC 4: the timeline
# --------------------------------------------------------------------------------------------

def test_gaps_under_at_and_over_the_default_threshold(models):
    """Gaps of 299 s and exactly 300 s are active; 301 s is idle; the last event adds nothing."""
    models.config(default_timezone=NY)
    models.canonical([
        ev("g", "2026-03-09T08:00:00-04:00", "a", "inbox"),
        ev("g", "2026-03-09T08:04:59-04:00", "b", "notes"),         # +299 s -> inbox 299 s
        ev("g", "2026-03-09T08:09:59-04:00", "c", "orders"),        # +300 s -> notes 300 s
        ev("g", "2026-03-09T08:15:00-04:00", "d", "chart_review"),  # +301 s -> idle
        ev("g", "2026-03-09T08:16:00-04:00", "e", "other"),         # +60 s -> chart_review 60 s
        ev("one", "2026-03-09T08:00:00-04:00", "alone", "inbox"),
    ])
    pub = models.run()
    ehr = (299 + 300 + 60) / 60
    check_day(pub, "g", "2026-03-09", events=5, ehr_minutes=ehr,
              inbox_minutes=299 / 60, notes_minutes=5.0, orders_minutes=0.0,
              chart_review_minutes=1.0, other_minutes=0.0, prescriptions_minutes=0.0,
              pajama_minutes=0.0, wow_minutes=ehr, **UNSCHEDULED_ZEROES)
    # A clinician with a single event: that last event contributes nothing.
    check_day(pub, "one", "2026-03-09", events=1, ehr_minutes=0.0, inbox_minutes=0.0,
              wow_minutes=0.0, pajama_minutes=0.0, **UNSCHEDULED_ZEROES)
    assert len(pub.days("g")) == 1


def test_custom_idle_threshold(models):
    models.config(default_timezone=NY, idle_threshold_seconds=600)
    models.canonical([
        ev("t", "2026-03-09T08:00:00-04:00", "a", "inbox"),
        ev("t", "2026-03-09T08:09:59-04:00", "b", "notes"),   # +599 s active inbox
        ev("t", "2026-03-09T08:19:59-04:00", "c", "orders"),  # +600 s active notes
        ev("t", "2026-03-09T08:30:00-04:00", "d", "other"),   # +601 s idle
        ev("t", "2026-03-09T08:34:00-04:00", "e", "other"),   # +240 s active other
    ])
    pub = models.run()
    check_day(pub, "t", "2026-03-09", events=5, ehr_minutes=(599 + 600 + 240) / 60,
              inbox_minutes=599 / 60, notes_minutes=10.0, orders_minutes=0.0,
              other_minutes=4.0)


def test_small_custom_threshold_makes_short_gaps_idle(models):
    models.config(default_timezone=NY, idle_threshold_seconds=60)
    models.canonical([
        ev("t", "2026-03-09T08:00:00-04:00", "a", "inbox"),
        ev("t", "2026-03-09T08:01:00-04:00", "b", "notes"),  # +60 s active inbox
        ev("t", "2026-03-09T08:02:01-04:00", "c", "other"),  # +61 s idle
        ev("t", "2026-03-09T08:04:00-04:00", "d", "other"),  # +119 s idle (default would count)
    ])
    pub = models.run()
    check_day(pub, "t", "2026-03-09", events=4, ehr_minutes=1.0, inbox_minutes=1.0,
              notes_minutes=0.0, other_minutes=0.0)


def test_ties_at_one_instant_take_the_last_by_action_then_workstation(models):
    """Rows are written in reverse of the SPEC order, so file order cannot explain the result."""
    models.config(default_timezone=NY)
    models.canonical([
        # 08:00: actions 'a' (inbox) and 'b' (notes): 'b' sorts last -> 08:00-08:02 is notes.
        ev("tie", "2026-03-09T08:00:00-04:00", "b", "notes"),
        ev("tie", "2026-03-09T08:00:00-04:00", "a", "inbox"),
        ev("tie", "2026-03-09T08:02:00-04:00", "z", "other"),   # then idle until 09:00
        # 09:00: one action on workstations 'W2', 'W10' and none: code-point order is
        # '' < 'W10' < 'W2', so 'W2' (orders) is last -> 09:00-09:03 is orders.
        ev("tie", "2026-03-09T09:00:00-04:00", "x", "orders", workstation="W2"),
        ev("tie", "2026-03-09T09:00:00-04:00", "x", "chart_review", workstation="W10"),
        ev("tie", "2026-03-09T09:00:00-04:00", "x", "inbox", workstation=""),
        ev("tie", "2026-03-09T09:03:00-04:00", "z", "other"),
    ])
    pub = models.run()
    check_day(pub, "tie", "2026-03-09", events=7, ehr_minutes=5.0, notes_minutes=2.0,
              orders_minutes=3.0, inbox_minutes=0.0, chart_review_minutes=0.0,
              other_minutes=0.0)


def test_tie_action_order_is_code_point_order(models):
    """'Zeta' < 'alpha' in code-point order, so 'alpha' (inbox) is the last event at 10:00."""
    models.config(default_timezone=NY)
    models.canonical([
        ev("cp", "2026-03-09T10:00:00-04:00", "alpha", "inbox"),
        ev("cp", "2026-03-09T10:00:00-04:00", "Zeta", "notes"),
        ev("cp", "2026-03-09T10:01:00-04:00", "end", "other"),
    ])
    pub = models.run()
    check_day(pub, "cp", "2026-03-09", events=3, ehr_minutes=1.0, inbox_minutes=1.0,
              notes_minutes=0.0)


def test_duplicates_across_two_files_count_once(models):
    models.config(default_timezone=NY)
    models.canonical([
        ev("d", "2026-03-09T08:00:00-04:00", "open", "inbox", workstation="W1", patient="P1"),
        ev("d", "2026-03-09T08:03:00-04:00", "note", "notes", workstation="W1", patient="P1"),
    ], name="a.csv")
    models.canonical([
        # exact copies of both rows of a.csv: duplicates
        ev("d", "2026-03-09T08:00:00-04:00", "open", "inbox", workstation="W1", patient="P1"),
        ev("d", "2026-03-09T08:03:00-04:00", "note", "notes", workstation="W1", patient="P1"),
        # same instant/action/workstation but another patient: a distinct event
        ev("d", "2026-03-09T08:03:00-04:00", "note", "notes", workstation="W1", patient="P2"),
        ev("d", "2026-03-09T08:06:00-04:00", "end", "other", workstation="W1", patient="P1"),
    ], name="b.csv")
    pub = models.run()
    check_day(pub, "d", "2026-03-09", events=4, ehr_minutes=6.0, inbox_minutes=3.0,
              notes_minutes=3.0, other_minutes=0.0)


def test_duplicate_keeps_the_first_in_file_name_order(models):
    """The duplicate key does not hold the category: the copy in a.csv (inbox) is kept."""
    models.config(default_timezone=NY)
    models.canonical([
        ev("d1", "2026-03-09T08:00:00-04:00", "open", "notes", workstation="W1"),
        ev("d1", "2026-03-09T08:04:00-04:00", "end", "other", workstation="W1"),
    ], name="b.csv")
    models.canonical([
        ev("d1", "2026-03-09T08:00:00-04:00", "open", "inbox", workstation="W1"),
    ], name="a.csv")
    pub = models.run()
    check_day(pub, "d1", "2026-03-09", events=2, ehr_minutes=4.0, inbox_minutes=4.0,
              notes_minutes=0.0)


def test_excluded_epic_events_are_dropped_before_the_timeline(models):
    """13:00 inbox, (13:02 excluded), 13:04 chart_review, (13:06 excluded), 13:12 notes.

    Without the excluded rows the timeline is 13:00 -> 13:04 (4 min inbox) and 13:04 -> 13:12
    (8 min, idle). Had 'Order transmitted' stayed, 13:04 -> 13:06 would be 2 min chart_review.
    """
    models.config(default_timezone=NY)
    models.epic([
        epic("ex", "2026-03-09 13:00:00", "In Basket message viewed"),
        epic("ex", "2026-03-09 13:02:00", "In Basket message created"),
        epic("ex", "2026-03-09 13:04:00", "Notes viewed"),
        epic("ex", "2026-03-09 13:06:00", "Order transmitted"),
        epic("ex", "2026-03-09 13:12:00", "Clinical Note Signed"),
    ])
    pub = models.run()
    check_day(pub, "ex", "2026-03-09", events=3, ehr_minutes=4.0, inbox_minutes=4.0,
              chart_review_minutes=0.0, notes_minutes=0.0, orders_minutes=0.0,
              other_minutes=0.0, pajama_minutes=0.0)


# --------------------------------------------------------------------------------------------
# SPEC 5: midnight and DST
# --------------------------------------------------------------------------------------------

def test_interval_across_local_midnight_is_split_between_dates(models):
    models.config(default_timezone=NY)
    models.canonical([
        ev("m", "2026-03-10T23:58:00-04:00", "a", "notes"),
        ev("m", "2026-03-11T00:03:00-04:00", "b", "inbox"),  # +300 s: active
    ])
    pub = models.run()
    check_day(pub, "m", "2026-03-10", events=1, ehr_minutes=2.0, notes_minutes=2.0,
              pajama_minutes=2.0, is_weekend=False)
    check_day(pub, "m", "2026-03-11", events=1, ehr_minutes=3.0, notes_minutes=3.0,
              inbox_minutes=0.0, pajama_minutes=3.0)


def test_spring_forward_day_has_23_hours_of_activity(models):
    """Events every 5 min from Sat 2026-03-07 23:00 EST to Mon 2026-03-09 01:00 EDT.

    Local 2026-03-08 runs from 05:00Z to 04:00Z next day: 23 h = 1380 min, 276 events.
    """
    models.config(default_timezone=NY)
    models.canonical(chain("s", datetime(2026, 3, 8, 4, tzinfo=UTC),
                            datetime(2026, 3, 9, 5, tzinfo=UTC), category="notes"))
    pub = models.run()
    check_day(pub, "s", "2026-03-07", events=12, ehr_minutes=60.0, pajama_minutes=60.0,
              is_weekend=True)
    check_day(pub, "s", "2026-03-08", events=276, ehr_minutes=1380.0, notes_minutes=1380.0,
              pajama_minutes=1380.0, unscheduled_day_minutes=1380.0, is_weekend=True)
    check_day(pub, "s", "2026-03-09", events=13, ehr_minutes=60.0, pajama_minutes=60.0,
              is_weekend=False)
    assert [str(r["activity_date"]) for r in pub.days("s")] == [
        "2026-03-07", "2026-03-08", "2026-03-09"]


def test_fall_back_day_has_25_hours_of_activity(models):
    """Events every 5 min from Sat 2026-10-31 23:00 EDT to Mon 2026-11-02 01:00 EST.

    Local 2026-11-01 runs from 04:00Z to 05:00Z next day: 25 h = 1500 min, 300 events.
    """
    models.config(default_timezone=NY)
    models.canonical(chain("f", datetime(2026, 11, 1, 3, tzinfo=UTC),
                            datetime(2026, 11, 2, 6, tzinfo=UTC), category="inbox"))
    pub = models.run()
    check_day(pub, "f", "2026-10-31", events=12, ehr_minutes=60.0, pajama_minutes=60.0)
    check_day(pub, "f", "2026-11-01", events=300, ehr_minutes=1500.0, inbox_minutes=1500.0,
              pajama_minutes=1500.0, is_weekend=True)
    check_day(pub, "f", "2026-11-02", events=13, ehr_minutes=60.0, pajama_minutes=60.0)


def test_interval_spanning_a_dst_change_counts_real_elapsed_minutes(models):
    """With a 4-hour threshold, one interval across each DST change.

    2026-11-01 00:30 EDT (04:30Z) -> 02:30 EST (07:30Z): 180 real minutes (120 on the wall clock).
    2026-03-08 01:30 EST (06:30Z) -> 03:30 EDT (07:30Z): 60 real minutes (120 on the wall clock).
    Clinician 'fn' gives the fall-back times naive (default_timezone New York): both exist once.
    """
    models.config(default_timezone=NY, idle_threshold_seconds=14400)
    models.canonical([
        ev("fb", "2026-11-01T00:30:00-04:00", "a", "notes"),
        ev("fb", "2026-11-01T02:30:00-05:00", "b", "notes"),
        ev("fn", "2026-11-01 00:30:00", "a", "notes"),
        ev("fn", "2026-11-01 02:30:00", "b", "notes"),
        ev("sf", "2026-03-08T01:30:00-05:00", "a", "orders"),
        ev("sf", "2026-03-08T03:30:00-04:00", "b", "orders"),
    ])
    pub = models.run()
    check_day(pub, "fb", "2026-11-01", events=2, ehr_minutes=180.0, notes_minutes=180.0)
    check_day(pub, "fn", "2026-11-01", events=2, ehr_minutes=180.0, notes_minutes=180.0)
    check_day(pub, "sf", "2026-03-08", events=2, ehr_minutes=60.0, orders_minutes=60.0)


@pytest.mark.parametrize(
    ("cid", "first_date", "second_date", "before", "after"),
    [
        # 23:50 -> 00:10 local around each DST day; the offset is the one in force at the time.
        ("into_spring", "2026-03-07", "2026-03-08", "-05:00", "-05:00"),
        ("out_of_spring", "2026-03-08", "2026-03-09", "-04:00", "-04:00"),
        ("into_fall", "2026-10-31", "2026-11-01", "-04:00", "-04:00"),
        ("out_of_fall", "2026-11-01", "2026-11-02", "-05:00", "-05:00"),
    ],
)
def test_session_across_midnight_next_to_a_dst_day(models, cid, first_date, second_date,
                                                   before, after):
    """A session 23:50 -> 00:10 (events every 5 min) gives 10 min to each local date."""
    models.config(default_timezone=NY)
    rows = [ev(cid, f"{first_date}T{hm}:00{before}", "s", "notes") for hm in ("23:50", "23:55")]
    rows += [ev(cid, f"{second_date}T{hm}:00{after}", "s", "notes")
             for hm in ("00:00", "00:05", "00:10")]
    models.canonical(rows)
    pub = models.run()
    check_day(pub, cid, first_date, events=2, ehr_minutes=10.0, notes_minutes=10.0,
              pajama_minutes=10.0)
    check_day(pub, cid, second_date, events=3, ehr_minutes=10.0, notes_minutes=10.0,
              pajama_minutes=10.0)
    assert len(pub.days(cid)) == 2


def test_scheduled_minutes_on_dst_days(models):
    """Naive New York appointments of 1440 min starting at local midnight.

    2026-03-08 00:00 EST (05:00Z) + 24 h = 2026-03-09 01:00 EDT: 1380 min on 03-08, 60 on 03-09.
    2026-11-01 00:00 EDT (04:00Z) + 24 h = 2026-11-01 23:00 EST, then a 120-min appointment at
    2026-11-01 23:00 EST: union 1500 min on 11-01 (its whole 25 h) and 60 on 11-02.
    """
    models.config(default_timezone=NY)
    models.schedule([
        appt("sd", "S1", "2026-03-08 00:00", 1440),
        appt("sd", "S2", "2026-11-01 00:00", 1440),
        appt("sd", "S3", "2026-11-01 23:00", 120, "completed"),
    ])
    pub = models.run()
    check_day(pub, "sd", "2026-03-08", events=0, appointments=1, scheduled_minutes=1380.0,
              ehr_minutes=0.0)
    check_day(pub, "sd", "2026-03-09", events=0, appointments=0, scheduled_minutes=60.0,
              ehr_minutes=0.0)
    check_day(pub, "sd", "2026-11-01", events=0, appointments=2, scheduled_minutes=1500.0)
    check_day(pub, "sd", "2026-11-02", events=0, appointments=0, scheduled_minutes=60.0)
    assert len(pub.days("sd")) == 4


# --------------------------------------------------------------------------------------------
# SPEC 5: pajama time
# --------------------------------------------------------------------------------------------

def test_weekends_and_holidays_are_all_pajama(models):
    models.config(default_timezone=NY)
    models.holidays([{"date": "2026-03-11", "name": "Founders day"}])
    models.canonical([
        ev("w", "2026-03-14T12:00:00-04:00", "a", "notes"),  # Saturday
        ev("w", "2026-03-14T12:04:00-04:00", "b", "notes"),
        ev("w", "2026-03-15T10:00:00-04:00", "a", "notes"),  # Sunday
        ev("w", "2026-03-15T10:03:00-04:00", "b", "notes"),
        ev("h", "2026-03-11T12:00:00-04:00", "a", "notes"),  # Wednesday, a holiday
        ev("h", "2026-03-11T12:04:00-04:00", "b", "notes"),
        ev("h", "2026-03-12T12:00:00-04:00", "a", "notes"),  # Thursday
        ev("h", "2026-03-12T12:04:00-04:00", "b", "notes"),
    ])
    pub = models.run()
    check_day(pub, "w", "2026-03-14", ehr_minutes=4.0, pajama_minutes=4.0, is_weekend=True,
              is_holiday=False)
    check_day(pub, "w", "2026-03-15", ehr_minutes=3.0, pajama_minutes=3.0, is_weekend=True,
              is_holiday=False)
    check_day(pub, "h", "2026-03-11", ehr_minutes=4.0, pajama_minutes=4.0, is_weekend=False,
              is_holiday=True)
    check_day(pub, "h", "2026-03-12", ehr_minutes=4.0, pajama_minutes=0.0, is_weekend=False,
              is_holiday=False)


def test_holiday_is_the_clinicians_local_date(models):
    """2026-03-11T01:00Z is 10:00 on 03-11 in Tokyo (holiday) but 21:00 on 03-10 in New York."""
    models.config(default_timezone=NY)
    models.roster([
        {"clinician_id": "tokyo", "department": "IM", "clinical_fte": 1, "timezone": "Asia/Tokyo"},
    ])
    models.holidays([{"date": "2026-03-11", "name": "Holiday"}])
    rows = []
    for cid in ("tokyo", "ny"):
        rows += [ev(cid, "2026-03-11T01:00:00Z", "a", "notes"),
                 ev(cid, "2026-03-11T01:04:00Z", "b", "notes"),
                 ev(cid, "2026-03-10T03:00:00Z", "a", "notes"),
                 ev(cid, "2026-03-10T03:02:00Z", "b", "notes")]
    models.canonical(rows)
    pub = models.run()
    # Tokyo: 03-10 12:00 JST (workday, 2 min) and 03-11 10:00 JST (holiday, 4 min).
    check_day(pub, "tokyo", "2026-03-10", ehr_minutes=2.0, pajama_minutes=0.0, is_holiday=False)
    check_day(pub, "tokyo", "2026-03-11", ehr_minutes=4.0, pajama_minutes=4.0, is_holiday=True)
    # New York: 03-09 23:00 EDT (2 min) and 03-10 21:00 EDT (4 min): no holiday, both pajama.
    check_day(pub, "ny", "2026-03-09", ehr_minutes=2.0, pajama_minutes=2.0, is_holiday=False)
    check_day(pub, "ny", "2026-03-10", ehr_minutes=4.0, pajama_minutes=4.0, is_holiday=False)
    assert pub.day("ny", "2026-03-11") is None


@pytest.mark.parametrize(
    ("start", "end", "pajama"),
    [
        ("06:58:00", "07:02:00", 2.0),  # 2 of 4 minutes before 07:00
        ("06:56:00", "07:00:00", 4.0),  # ends exactly at 07:00: all before it
        ("07:00:00", "07:04:00", 0.0),  # from 07:00 on: workday
        ("17:26:00", "17:30:00", 0.0),  # ends exactly at 17:30: workday
        ("17:28:00", "17:32:00", 2.0),  # 2 of 4 minutes at/after 17:30
        ("17:30:00", "17:34:00", 4.0),  # from exactly 17:30: pajama
        ("17:29:30", "17:30:00.5", 0.5 / 60),  # half a second after 17:30
    ],
)
def test_workday_edges(models, start, end, pajama):
    models.config(default_timezone=NY)
    models.canonical([
        ev("edge", f"2026-03-12T{start}-04:00", "a", "chart_review"),
        ev("edge", f"2026-03-12T{end}-04:00", "b", "chart_review"),
    ])
    pub = models.run()
    t0 = datetime.fromisoformat(f"2026-03-12T{start}")
    t1 = datetime.fromisoformat(f"2026-03-12T{end}")
    ehr = (t1 - t0).total_seconds() / 60
    check_day(pub, "edge", "2026-03-12", events=2, ehr_minutes=ehr, chart_review_minutes=ehr,
              pajama_minutes=pajama)


def test_custom_workday_window(models):
    models.config(default_timezone=NY, workday_start="08:00", workday_end="16:00")
    models.canonical([
        ev("cw", "2026-03-12T07:58:00-04:00", "a", "notes"),
        ev("cw", "2026-03-12T08:02:00-04:00", "b", "notes"),   # 2 of 4 pajama
        ev("cw", "2026-03-12T12:00:00-04:00", "a", "notes"),
        ev("cw", "2026-03-12T12:04:00-04:00", "b", "notes"),   # 0 of 4
        ev("cw", "2026-03-12T15:59:00-04:00", "a", "notes"),
        ev("cw", "2026-03-12T16:03:00-04:00", "b", "notes"),   # 3 of 4
    ])
    pub = models.run()
    check_day(pub, "cw", "2026-03-12", events=6, ehr_minutes=12.0, pajama_minutes=5.0)


def test_clinician_in_another_timezone_uses_their_local_clock(models):
    """Same instants for a Los Angeles clinician (roster) and a New York one (default zone).

    2026-03-12T13:58Z-14:02Z: LA 06:58-07:02 PDT (2 pajama); NY 09:58-10:02 EDT (0 pajama).
    2026-03-13T00:28Z-00:32Z: LA 03-12 17:28-17:32 (2 pajama); NY 03-12 20:28-20:32 (4 pajama).
    2026-03-13T06:58Z-07:02Z: LA 03-12 23:58 -> 03-13 00:02 (2 + 2); NY 03-13 02:58-03:02 (4).
    LA also has a naive appointment '2026-03-12 08:00' (15:00Z) for 60 min, active 15:00Z-15:04Z.
    """
    models.config(default_timezone=NY)
    models.roster([
        {"clinician_id": "la", "department": "FM", "specialty": "FM", "role": "MD",
         "clinical_fte": 1.0, "timezone": "America/Los_Angeles"},
    ])
    models.schedule([appt("la", "LA1", "2026-03-12 08:00", 60)])
    rows = []
    for cid in ("la", "ny"):
        rows += [ev(cid, "2026-03-12T13:58:00Z", "a", "notes"),
                 ev(cid, "2026-03-12T14:02:00Z", "b", "notes"),
                 ev(cid, "2026-03-13T00:28:00Z", "a", "notes"),
                 ev(cid, "2026-03-13T00:32:00Z", "b", "notes"),
                 ev(cid, "2026-03-13T06:58:00Z", "a", "notes"),
                 ev(cid, "2026-03-13T07:02:00Z", "b", "notes")]
    rows += [ev("la", "2026-03-12T15:00:00Z", "a", "inbox"),
             ev("la", "2026-03-12T15:04:00Z", "b", "inbox")]
    models.canonical(rows)
    pub = models.run()
    # LA window 07:30-09:30 PDT = 14:30Z-16:30Z: only the 15:00Z interval is inside it.
    check_day(pub, "la", "2026-03-12", events=7, appointments=1, scheduled_minutes=60.0,
              ehr_minutes=14.0, notes_minutes=10.0, inbox_minutes=4.0, pajama_minutes=6.0,
              in_schedule_minutes=4.0, wow_minutes=10.0, outside_schedule_window_minutes=10.0,
              unscheduled_day_minutes=0.0)
    check_day(pub, "la", "2026-03-13", events=1, ehr_minutes=2.0, pajama_minutes=2.0,
              appointments=0)
    check_day(pub, "ny", "2026-03-12", events=4, ehr_minutes=8.0, pajama_minutes=4.0)
    check_day(pub, "ny", "2026-03-13", events=2, ehr_minutes=4.0, pajama_minutes=4.0)


# --------------------------------------------------------------------------------------------
# SPEC 5: scheduled time and the schedule window
# --------------------------------------------------------------------------------------------

def test_overlapping_canceled_no_show_and_status_case(models):
    """Appointments 09:00+60 and 09:30+60 overlap (union 90 min), 13:00 CANCELED is ignored,
    14:00+30 No_Show counts: scheduled 120 min, 3 appointments, window 08:30-15:00."""
    models.config(default_timezone=NY)
    models.schedule([
        appt("ap", "A1", "2026-03-12 09:00", 60, "scheduled"),
        appt("ap", "A2", "2026-03-12 09:30", 60, "Completed"),
        appt("ap", "A3", "2026-03-12 13:00", 60, "CANCELED"),
        appt("ap", "A4", "2026-03-12 14:00", 30, "No_Show"),
    ])
    models.canonical([
        ev("ap", "2026-03-12T08:58:00-04:00", "a", "notes"),
        ev("ap", "2026-03-12T09:02:00-04:00", "b", "notes"),  # 2 of 4 in schedule
        ev("ap", "2026-03-12T10:28:00-04:00", "a", "notes"),
        ev("ap", "2026-03-12T10:32:00-04:00", "b", "notes"),  # 2 of 4 (union ends 10:30)
        ev("ap", "2026-03-12T13:00:00-04:00", "a", "notes"),
        ev("ap", "2026-03-12T13:04:00-04:00", "b", "notes"),  # 0: canceled
        ev("ap", "2026-03-12T14:28:00-04:00", "a", "notes"),
        ev("ap", "2026-03-12T14:32:00-04:00", "b", "notes"),  # 2 of 4 (no-show)
    ])
    pub = models.run()
    check_day(pub, "ap", "2026-03-12", events=8, appointments=3, scheduled_minutes=120.0,
              ehr_minutes=16.0, in_schedule_minutes=6.0, wow_minutes=10.0,
              outside_schedule_window_minutes=0.0, unscheduled_day_minutes=0.0,
              pajama_minutes=0.0)


def test_same_appointment_id_is_replaced_by_a_later_file(models):
    """R1 moves from 09:00+60 to 11:00+30; R2 is canceled by the later file.
    Scheduled 11:00-11:30, window 10:30-12:00."""
    models.config(default_timezone=NY)
    models.schedule([
        appt("rp", "R1", "2026-03-12 09:00", 60),
        appt("rp", "R2", "2026-03-12 15:00", 60),
    ], name="a.csv")
    models.schedule([
        appt("rp", "R1", "2026-03-12 11:00", 30),
        appt("rp", "R2", "2026-03-12 15:00", 60, "canceled"),
    ], name="b.csv")
    models.canonical([
        ev("rp", "2026-03-12T09:10:00-04:00", "a", "inbox"),
        ev("rp", "2026-03-12T09:14:00-04:00", "b", "inbox"),
        ev("rp", "2026-03-12T11:00:00-04:00", "a", "inbox"),
        ev("rp", "2026-03-12T11:04:00-04:00", "b", "inbox"),
        ev("rp", "2026-03-12T15:10:00-04:00", "a", "inbox"),
        ev("rp", "2026-03-12T15:14:00-04:00", "b", "inbox"),
    ])
    pub = models.run()
    check_day(pub, "rp", "2026-03-12", events=6, appointments=1, scheduled_minutes=30.0,
              ehr_minutes=12.0, in_schedule_minutes=4.0, wow_minutes=8.0,
              outside_schedule_window_minutes=8.0, unscheduled_day_minutes=0.0)


def test_appointment_crossing_midnight(models):
    """23:00+120 on 03-12: 60 scheduled minutes on each date. 03-13 has no appointment
    starting on it: no window (all its activity is outside) and unscheduled_day = ehr."""
    models.config(default_timezone=NY)
    models.schedule([appt("mn", "M1", "2026-03-12 23:00", 120)])
    models.canonical([
        ev("mn", "2026-03-12T23:10:00-04:00", "a", "orders"),
        ev("mn", "2026-03-12T23:14:00-04:00", "b", "orders"),
        ev("mn", "2026-03-13T00:30:00-04:00", "a", "notes"),
        ev("mn", "2026-03-13T00:34:00-04:00", "b", "notes"),
    ])
    pub = models.run()
    check_day(pub, "mn", "2026-03-12", events=2, appointments=1, scheduled_minutes=60.0,
              ehr_minutes=4.0, orders_minutes=4.0, in_schedule_minutes=4.0, wow_minutes=0.0,
              outside_schedule_window_minutes=0.0, unscheduled_day_minutes=0.0,
              pajama_minutes=4.0)
    check_day(pub, "mn", "2026-03-13", events=2, appointments=0, scheduled_minutes=60.0,
              ehr_minutes=4.0, notes_minutes=4.0, in_schedule_minutes=4.0, wow_minutes=0.0,
              outside_schedule_window_minutes=4.0, unscheduled_day_minutes=4.0,
              pajama_minutes=4.0)


def test_schedule_window_default_grace(models):
    """Appointment 10:00+60, window 09:30-11:30.
    09:25-09:27 (35 min before) outside; 09:35-09:37 (25 min before) inside;
    11:28-11:32: 2 inside, 2 outside."""
    models.config(default_timezone=NY)
    models.schedule([appt("gr", "G1", "2026-03-12 10:00", 60)])
    models.canonical([
        ev("gr", "2026-03-12T09:25:00-04:00", "a", "inbox"),
        ev("gr", "2026-03-12T09:27:00-04:00", "b", "inbox"),
        ev("gr", "2026-03-12T09:35:00-04:00", "a", "inbox"),
        ev("gr", "2026-03-12T09:37:00-04:00", "b", "inbox"),
        ev("gr", "2026-03-12T11:28:00-04:00", "a", "inbox"),
        ev("gr", "2026-03-12T11:32:00-04:00", "b", "inbox"),
    ])
    pub = models.run()
    check_day(pub, "gr", "2026-03-12", events=6, appointments=1, scheduled_minutes=60.0,
              ehr_minutes=8.0, in_schedule_minutes=0.0, wow_minutes=8.0,
              outside_schedule_window_minutes=4.0, unscheduled_day_minutes=0.0)


def test_schedule_window_custom_grace(models):
    """Grace 10 min: appointment 10:00+60, window 09:50-11:10."""
    models.config(default_timezone=NY, schedule_window_grace_minutes=10)
    models.schedule([appt("gc", "G2", "2026-03-12 10:00", 60)])
    models.canonical([
        ev("gc", "2026-03-12T09:35:00-04:00", "a", "inbox"),
        ev("gc", "2026-03-12T09:37:00-04:00", "b", "inbox"),  # 2 outside (inside at 30 min)
        ev("gc", "2026-03-12T09:52:00-04:00", "a", "inbox"),
        ev("gc", "2026-03-12T09:54:00-04:00", "b", "inbox"),  # 2 inside the window
        ev("gc", "2026-03-12T10:58:00-04:00", "a", "inbox"),
        ev("gc", "2026-03-12T11:02:00-04:00", "b", "inbox"),  # 2 in schedule, 2 in window
        ev("gc", "2026-03-12T11:08:00-04:00", "a", "inbox"),
        ev("gc", "2026-03-12T11:12:00-04:00", "b", "inbox"),  # 2 inside, 2 outside
    ])
    pub = models.run()
    check_day(pub, "gc", "2026-03-12", events=8, ehr_minutes=12.0, in_schedule_minutes=2.0,
              wow_minutes=10.0, outside_schedule_window_minutes=4.0)


def test_window_uses_latest_end_among_appointments_of_the_date(models):
    """09:00+180 and 10:00+30: the window runs to 12:00 + 30 = 12:30 (latest end, not last start)."""
    models.config(default_timezone=NY)
    models.schedule([appt("le", "L1", "2026-03-12 09:00", 180),
                      appt("le", "L2", "2026-03-12 10:00", 30)])
    models.canonical([
        ev("le", "2026-03-12T12:20:00-04:00", "a", "notes"),
        ev("le", "2026-03-12T12:24:00-04:00", "b", "notes"),  # inside window, not in schedule
        ev("le", "2026-03-12T12:28:00-04:00", "c", "notes"),  # 12:24-12:28 inside
        ev("le", "2026-03-12T12:32:00-04:00", "d", "notes"),  # 12:28-12:30 in, 12:30-12:32 out
    ])
    pub = models.run()
    check_day(pub, "le", "2026-03-12", events=4, appointments=2, scheduled_minutes=180.0,
              ehr_minutes=12.0, in_schedule_minutes=0.0, outside_schedule_window_minutes=2.0)


def test_day_without_appointments(models):
    """No appointment: no window, so outside_schedule_window = unscheduled_day = wow = ehr."""
    models.config(default_timezone=NY)
    models.canonical([
        ev("na", "2026-03-12T10:00:00-04:00", "a", "notes"),
        ev("na", "2026-03-12T10:04:00-04:00", "b", "inbox"),
        ev("na", "2026-03-12T10:05:30-04:00", "c", "other"),
    ])
    pub = models.run()
    check_day(pub, "na", "2026-03-12", events=3, appointments=0, scheduled_minutes=0.0,
              ehr_minutes=5.5, notes_minutes=4.0, inbox_minutes=1.5, in_schedule_minutes=0.0,
              wow_minutes=5.5, outside_schedule_window_minutes=5.5,
              unscheduled_day_minutes=5.5, pajama_minutes=0.0)


def test_rows_for_dates_with_only_scheduled_time(models):
    models.config(default_timezone=NY)
    models.schedule([
        appt("so", "O1", "2026-03-12 09:00", 60),
        appt("so", "O2", "2026-03-12 13:00", 30, "arrived"),
        appt("so", "O3", "2026-03-13 09:00", 60, "canceled"),
    ])
    pub = models.run()
    check_day(pub, "so", "2026-03-12", events=0, appointments=2, scheduled_minutes=90.0,
              ehr_minutes=0.0, in_schedule_minutes=0.0, wow_minutes=0.0,
              outside_schedule_window_minutes=0.0, unscheduled_day_minutes=0.0,
              pajama_minutes=0.0)
    assert [str(r["activity_date"]) for r in pub.days("so")] == ["2026-03-12"]


# --------------------------------------------------------------------------------------------
# SPEC 3: categories, prescriptions and the action map
# --------------------------------------------------------------------------------------------

def test_prescriptions_from_the_epic_map(models):
    """13:00 Medication order signed (orders, prescription) 3 min; 13:03 Order list changed
    (orders) 2 min; 13:05 Notes viewed (chart_review) 1 min; 13:06 last."""
    models.config(default_timezone=NY)
    models.epic([
        epic("rx", "2026-03-09 13:00:00", "Medication order signed"),
        epic("rx", "2026-03-09 13:03:00", "Order list changed"),
        epic("rx", "2026-03-09 13:05:00", "Notes viewed"),
        epic("rx", "2026-03-09 13:06:00", "In Basket message viewed"),
    ])
    pub = models.run()
    check_day(pub, "rx", "2026-03-09", events=4, ehr_minutes=6.0, orders_minutes=5.0,
              prescriptions_minutes=3.0, chart_review_minutes=1.0, inbox_minutes=0.0)


def test_event_with_its_own_orders_category_is_never_a_prescription(models):
    """A landing map row makes canonical 'Rx signed' a prescription; the event that carries its
    own category 'orders' is not one, the one looked up in the map is."""
    models.config(default_timezone=NY)
    models.category_map([
        {"format": "canonical", "action": "Rx signed", "report_name": "", "category": "orders",
         "is_prescription": "true"},
    ])
    models.canonical([
        ev("rxc", "2026-03-09T08:00:00-04:00", "Rx signed", "orders"),  # own category: 2 min
        ev("rxc", "2026-03-09T08:02:00-04:00", "Rx signed"),            # mapped: 3 min presc
        ev("rxc", "2026-03-09T08:05:00-04:00", "done"),
    ])
    pub = models.run()
    check_day(pub, "rxc", "2026-03-09", events=3, ehr_minutes=5.0, orders_minutes=5.0,
              prescriptions_minutes=3.0)


def test_landing_map_overrides_and_report_name_refines(models):
    """Landing rows: 'Notes viewed' -> notes (shipped: chart_review); 'Report with patient data
    viewed' with REPORT_NAME 'Inbasket Report' -> inbox (other reports keep chart_review)."""
    models.config(default_timezone=NY)
    models.category_map([
        {"format": "epic_access_log", "action": "Notes viewed", "report_name": "",
         "category": "notes", "is_prescription": "false"},
        {"format": "epic_access_log", "action": "Report with patient data viewed",
         "report_name": "Inbasket Report", "category": "inbox", "is_prescription": "false"},
    ])
    models.epic([
        epic("ov", "2026-03-09 13:00:00", "Notes viewed"),                                # 2
        epic("ov", "2026-03-09 13:02:00", "Report with patient data viewed", "Inbasket Report"),  # 3
        epic("ov", "2026-03-09 13:05:00", "Report with patient data viewed", "Lab Report"),  # 4
        epic("ov", "2026-03-09 13:09:00", "Results Review accessed", "Inbasket Report"),  # 1
        epic("ov", "2026-03-09 13:10:00", "Mystery metric nobody mapped"),                 # 4
        epic("ov", "2026-03-09 13:14:00", "Clinical Note Signed"),
    ])
    pub = models.run()
    check_day(pub, "ov", "2026-03-09", events=6, ehr_minutes=14.0, notes_minutes=2.0,
              inbox_minutes=3.0, chart_review_minutes=5.0, other_minutes=4.0,
              orders_minutes=0.0)


def test_canonical_own_category_wins_over_the_map_and_unmapped_is_other(models):
    models.config(default_timezone=NY)
    models.category_map([
        {"format": "canonical", "action": "Foo", "report_name": "", "category": "notes",
         "is_prescription": "false"},
    ])
    models.canonical([
        ev("own", "2026-03-09T08:00:00-04:00", "Foo", "inbox"),  # own category wins: inbox 3
        ev("own", "2026-03-09T08:03:00-04:00", "Foo"),           # the map: notes 4
        ev("own", "2026-03-09T08:07:00-04:00", "Bar"),           # unmapped: other 1
        ev("own", "2026-03-09T08:08:00-04:00", "Foo"),
    ])
    pub = models.run()
    check_day(pub, "own", "2026-03-09", events=4, ehr_minutes=8.0, inbox_minutes=3.0,
              notes_minutes=4.0, other_minutes=1.0)
