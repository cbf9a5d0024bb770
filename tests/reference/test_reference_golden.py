"""Hand-computed cases that check the plain-Python SPEC reference itself."""

from __future__ import annotations

import csv
import gzip
import io
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from .spec_reference import compute, day_start, to_us, wall_boundary

EPIC = ["USER_ID", "ACCESS_INSTANT", "ACCESS_TIME", "METRIC_ID", "METRIC_NAME", "REPORT_NAME",
        "PAT_ID", "WORKSTATION_ID", "PROCESS_ID", "CSN"]
CANONICAL = ["clinician_id", "event_time", "action", "category", "patient_id", "workstation_id"]
ROSTER = ["clinician_id", "department", "specialty", "role", "clinical_fte", "timezone"]
SCHEDULE = ["clinician_id", "appointment_id", "start_time", "duration_minutes", "status"]
MAP = ["format", "action", "report_name", "category", "is_prescription"]

DAY_COLUMNS = [
    "clinician_id", "activity_date", "events", "appointments", "scheduled_minutes", "ehr_minutes",
    "inbox_minutes", "notes_minutes", "orders_minutes", "chart_review_minutes", "other_minutes",
    "prescriptions_minutes", "in_schedule_minutes", "wow_minutes",
    "outside_schedule_window_minutes", "unscheduled_day_minutes", "pajama_minutes", "is_holiday",
    "is_weekend",
]


def csv_text(columns: list[str], rows: list[dict[str, Any]]) -> str:
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, fieldnames=columns)
    writer.writeheader()
    for row in rows:
        writer.writerow({c: row.get(c, "") for c in columns})
    return buffer.getvalue()


def write(path: Path, columns: list[str], rows: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = csv_text(columns, rows)
    if path.name.endswith(".gz"):
        path.write_bytes(gzip.compress(text.encode("utf-8")))
    else:
        path.write_text(text, encoding="utf-8", newline="")
    return path


def canonical(root: Path, rows: list[dict[str, Any]], name: str = "events.csv") -> None:
    write(root / "audit" / "canonical" / name, CANONICAL, rows)


def epic(root: Path, rows: list[dict[str, Any]], name: str = "access_log.csv") -> None:
    write(root / "audit" / "epic_access_log" / name, EPIC, rows)


def ev(cid: str, when: str, action: str = "x", **extra: str) -> dict[str, Any]:
    return {"clinician_id": cid, "event_time": when, "action": action, **extra}


def config(root: Path, text: str) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / "wow.yaml").write_text(text)


def day(rows: list[dict[str, Any]], cid: str, when: str) -> dict[str, Any]:
    found = [r for r in rows if r["clinician_id"] == cid and r["activity_date"] == date.fromisoformat(when)]
    assert len(found) == 1, found
    return found[0]


def approx(expected: dict[str, Any]) -> dict[str, Any]:
    return {k: (pytest.approx(v, abs=1e-9) if isinstance(v, float) else v) for k, v in expected.items()}


def test_two_events_two_minutes(tmp_path: Path) -> None:
    canonical(tmp_path, [ev("c1", "2026-03-04T10:00:00Z"), ev("c1", "2026-03-04T10:02:00Z")])
    days, periods = compute(tmp_path)
    assert len(days) == 1
    assert list(days[0]) == DAY_COLUMNS
    assert days[0] == approx({
        "clinician_id": "c1", "activity_date": date(2026, 3, 4), "events": 2, "appointments": 0,
        "scheduled_minutes": 0.0, "ehr_minutes": 2.0, "inbox_minutes": 0.0, "notes_minutes": 0.0,
        "orders_minutes": 0.0, "chart_review_minutes": 0.0, "other_minutes": 2.0,
        "prescriptions_minutes": 0.0, "in_schedule_minutes": 0.0, "wow_minutes": 2.0,
        "outside_schedule_window_minutes": 2.0, "unscheduled_day_minutes": 2.0,
        "pajama_minutes": 0.0, "is_holiday": False, "is_weekend": False,
    })
    assert len(periods) == 1
    p = periods[0]
    assert p["department"] == "unknown" and p["specialty"] is None and p["role"] is None
    assert p["clinical_fte"] is None and p["timezone"] == "UTC"
    assert (p["period_start"], p["period_days"], p["days_active"], p["scheduled_days"]) == (
        date(2026, 3, 1), 31, 1, 0)
    assert p["ehr_hours"] == pytest.approx(2 / 60)
    for key in ("ehr_time8", "wow8", "ehr_hours_per_fte_week", "ehr_minutes_per_sched_day",
                "undivided_attention_pct"):
        assert p[key] is None


def test_idle_threshold_is_inclusive_to_the_microsecond(tmp_path: Path) -> None:
    epic(tmp_path, [
        # gap of exactly 300 s counts, 301 s is idle
        {"USER_ID": "u1", "ACCESS_INSTANT": "2026-03-04 10:00:00", "METRIC_NAME": "x"},
        {"USER_ID": "u1", "ACCESS_INSTANT": "2026-03-04 10:05:00", "METRIC_NAME": "x"},
        {"USER_ID": "u1", "ACCESS_INSTANT": "2026-03-04 10:10:01", "METRIC_NAME": "x"},
        # 300.000000 s counts, 300.000001 s is idle
        {"USER_ID": "u2", "ACCESS_INSTANT": "2026-03-04 10:00:00.5", "METRIC_NAME": "x"},
        {"USER_ID": "u2", "ACCESS_INSTANT": "2026-03-04 10:05:00.500000", "METRIC_NAME": "x"},
        {"USER_ID": "u2", "ACCESS_INSTANT": "2026-03-04 10:10:00.500001", "METRIC_NAME": "x"},
    ])
    days, _ = compute(tmp_path)
    assert day(days, "u1", "2026-03-04")["ehr_minutes"] == 5.0
    assert day(days, "u2", "2026-03-04")["ehr_minutes"] == 5.0


def test_configured_threshold(tmp_path: Path) -> None:
    config(tmp_path, "idle_threshold_seconds: 60\n")
    canonical(tmp_path, [ev("c1", "2026-03-04T10:00:00Z"), ev("c1", "2026-03-04T10:01:00Z"),
                         ev("c1", "2026-03-04T10:02:01Z")])
    days, _ = compute(tmp_path)
    assert day(days, "c1", "2026-03-04")["ehr_minutes"] == 1.0


def test_spring_forward_new_york(tmp_path: Path) -> None:
    ny = ZoneInfo("America/New_York")
    assert day_start(date(2026, 3, 9), ny) - day_start(date(2026, 3, 8), ny) == 23 * 3600 * 10**6
    write(tmp_path / "reference" / "roster.csv", ROSTER, [
        {"clinician_id": "c1", "department": "FM", "clinical_fte": "1.0",
         "timezone": "America/New_York"}])
    # 01:59 EST -> 03:01 EDT is two minutes of elapsed time
    canonical(tmp_path, [ev("c1", "2026-03-08T01:59:00-05:00"),
                         ev("c1", "2026-03-08T03:01:00-04:00")])
    # local midnight, 24 h of elapsed time: 23 h on the short day, 1 h on the next
    write(tmp_path / "reference" / "schedule" / "s.csv", SCHEDULE, [
        {"clinician_id": "c1", "appointment_id": "a1", "start_time": "2026-03-08 00:00:00",
         "duration_minutes": "1440", "status": "scheduled"}])
    days, periods = compute(tmp_path)
    sunday = day(days, "c1", "2026-03-08")
    assert sunday == approx({**sunday, "events": 2, "appointments": 1, "scheduled_minutes": 1380.0,
                             "ehr_minutes": 2.0, "other_minutes": 2.0, "in_schedule_minutes": 2.0,
                             "wow_minutes": 0.0, "outside_schedule_window_minutes": 0.0,
                             "unscheduled_day_minutes": 0.0, "pajama_minutes": 2.0,
                             "is_weekend": True})
    monday = day(days, "c1", "2026-03-09")
    assert (monday["events"], monday["appointments"], monday["scheduled_minutes"],
            monday["ehr_minutes"]) == (0, 0, 60.0, 0.0)
    assert len(days) == 2
    (p,) = periods
    assert p["timezone"] == "America/New_York" and p["department"] == "FM"
    assert p["scheduled_hours"] == pytest.approx(24.0)
    assert p["undivided_attention_pct"] == pytest.approx(100 * (1 - (2 / 60) / 24))


def test_naive_times_dst_gap_skipped_and_repeated_hour_takes_earlier(tmp_path: Path) -> None:
    ny = ZoneInfo("America/New_York")
    assert day_start(date(2026, 11, 2), ny) - day_start(date(2026, 11, 1), ny) == 25 * 3600 * 10**6
    config(tmp_path, "default_timezone: America/New_York\n")
    canonical(tmp_path, [
        ev("c1", "2026-03-08T01:58:00"),   # EST, 06:58Z
        ev("c1", "2026-03-08T02:15:00"),   # does not exist: skipped
    ])
    epic(tmp_path, [
        {"USER_ID": "c1", "ACCESS_INSTANT": "2026-03-08 07:00:00", "METRIC_NAME": "x"},  # 03:00 EDT
        {"USER_ID": "c1", "ACCESS_TIME": "2026-03-08 02:30:00", "METRIC_NAME": "x"},  # skipped
        # repeated hour: 01:30 is taken as EDT (05:30Z), two minutes before 05:32Z
        {"USER_ID": "c1", "ACCESS_TIME": "2026-11-01 01:30:00", "METRIC_NAME": "x"},
        {"USER_ID": "c1", "ACCESS_INSTANT": "2026-11-01 05:32:00", "METRIC_NAME": "x"},
    ])
    days, periods = compute(tmp_path)
    assert [(r["activity_date"], r["events"], r["ehr_minutes"]) for r in days] == [
        (date(2026, 3, 8), 2, 2.0), (date(2026, 11, 1), 2, 2.0)]
    assert [p["timezone"] for p in periods] == ["America/New_York"] * 2


def test_local_midnight_inside_a_dst_gap_havana(tmp_path: Path) -> None:
    havana = ZoneInfo("America/Havana")
    # 2026-03-08 00:00 does not exist in Havana: the date begins at 01:00 CDT = 05:00Z
    assert day_start(date(2026, 3, 8), havana) == to_us(datetime.fromisoformat("2026-03-08T05:00:00+00:00"))
    write(tmp_path / "reference" / "roster.csv", ROSTER, [
        {"clinician_id": "c1", "department": "ED", "clinical_fte": "1", "timezone": "America/Havana"}])
    canonical(tmp_path, [ev("c1", "2026-03-08T04:59:00Z"), ev("c1", "2026-03-08T05:01:00Z")])
    days, _ = compute(tmp_path)
    assert day(days, "c1", "2026-03-07")["ehr_minutes"] == 1.0
    assert day(days, "c1", "2026-03-08")["ehr_minutes"] == 1.0
    assert day(days, "c1", "2026-03-08")["events"] == 1


def test_wall_boundary_in_gap_and_repeated_hour() -> None:
    ny = ZoneInfo("America/New_York")
    # workday_start 02:30 on the spring-forward day: the first instant at/after it is 03:00 EDT
    assert wall_boundary(datetime(2026, 3, 8, 2, 30), ny) == to_us(
        datetime.fromisoformat("2026-03-08T07:00:00+00:00"))
    assert wall_boundary(datetime(2026, 11, 1, 1, 30), ny) == to_us(
        datetime.fromisoformat("2026-11-01T05:30:00+00:00"))


def test_midnight_split_and_weekday_pajama(tmp_path: Path) -> None:
    canonical(tmp_path, [ev("c1", "2026-03-04T23:58:00Z"), ev("c1", "2026-03-05T00:02:00Z"),
                         ev("c1", "2026-03-05T06:58:00Z"), ev("c1", "2026-03-05T07:03:00Z"),
                         ev("c1", "2026-03-05T17:28:00Z"), ev("c1", "2026-03-05T17:31:00Z")])
    days, _ = compute(tmp_path)
    wed, thu = day(days, "c1", "2026-03-04"), day(days, "c1", "2026-03-05")
    assert (wed["events"], wed["ehr_minutes"], wed["pajama_minutes"]) == (1, 2.0, 2.0)
    assert (thu["events"], thu["ehr_minutes"]) == (5, 2.0 + 5.0 + 3.0)
    assert thu["pajama_minutes"] == 2.0 + 2.0 + 1.0


def test_schedule_metrics_and_period_normalisations(tmp_path: Path) -> None:
    write(tmp_path / "reference" / "roster.csv", ROSTER, [
        {"clinician_id": "c1", "department": "Family Medicine", "specialty": "FM",
         "role": "MD", "clinical_fte": "0.5", "timezone": ""}])
    write(tmp_path / "reference" / "schedule" / "s.csv", SCHEDULE, [
        {"clinician_id": "c1", "appointment_id": "a1", "start_time": "2026-03-04T09:00:00",
         "duration_minutes": "30", "status": "Completed"}])
    canonical(tmp_path, [
        ev("c1", "2026-03-04T08:25:00Z", category="inbox"),
        ev("c1", "2026-03-04T08:30:00Z", category="notes"),
        ev("c1", "2026-03-04T08:35:00Z"),
        ev("c1", "2026-03-04T09:00:00Z", category="orders"),
        ev("c1", "2026-03-04T09:05:00Z", category="chart_review"),
        ev("c1", "2026-03-04T09:10:00Z"),
        ev("c1", "2026-03-04T09:35:00Z", category="inbox"),
        ev("c1", "2026-03-04T09:40:00Z"),
        ev("c1", "2026-03-04T17:28:00Z"),
        ev("c1", "2026-03-04T17:32:00Z"),
        # Saturday, no appointment: unscheduled day, all pajama, all outside the window
        ev("c1", "2026-03-07T10:00:00Z"),
        ev("c1", "2026-03-07T10:03:00Z"),
    ])
    days, periods = compute(tmp_path)
    wed = day(days, "c1", "2026-03-04")
    # active: 08:25-08:35, 09:00-09:10, 09:35-09:40, 17:28-17:32; schedule 09:00-09:30;
    # window 08:30-10:00; pajama from 17:30
    assert wed == approx({
        "clinician_id": "c1", "activity_date": date(2026, 3, 4), "events": 10, "appointments": 1,
        "scheduled_minutes": 30.0, "ehr_minutes": 29.0, "inbox_minutes": 10.0,
        "notes_minutes": 5.0, "orders_minutes": 5.0, "chart_review_minutes": 5.0,
        "other_minutes": 4.0, "prescriptions_minutes": 0.0, "in_schedule_minutes": 10.0,
        "wow_minutes": 19.0, "outside_schedule_window_minutes": 9.0,
        "unscheduled_day_minutes": 0.0, "pajama_minutes": 2.0, "is_holiday": False,
        "is_weekend": False,
    })
    sat = day(days, "c1", "2026-03-07")
    assert (sat["ehr_minutes"], sat["unscheduled_day_minutes"], sat["pajama_minutes"],
            sat["outside_schedule_window_minutes"], sat["is_weekend"]) == (3.0, 3.0, 3.0, 3.0, True)
    (p,) = periods
    sched_h = 0.5
    # The data covers 03-04 to 03-07 (the only clinician's first and last events): 4 days.
    fte_weeks = 0.5 * 4 / 7
    assert p == approx({
        "clinician_id": "c1", "department": "Family Medicine", "specialty": "FM", "role": "MD",
        "clinical_fte": 0.5, "timezone": "UTC", "period_start": date(2026, 3, 1),
        "period_days": 31, "coverage_days": 4, "is_complete_period": False, "days_active": 2, "scheduled_days": 1, "appointments": 1,
        "scheduled_hours": sched_h, "events": 12,
        "ehr_hours": 32 / 60, "inbox_hours": 10 / 60, "notes_hours": 5 / 60,
        "orders_hours": 5 / 60, "chart_review_hours": 5 / 60, "other_hours": 7 / 60,
        "prescriptions_hours": 0.0, "in_schedule_hours": 10 / 60, "wow_hours": 22 / 60,
        "outside_schedule_window_hours": 12 / 60, "unscheduled_day_hours": 3 / 60,
        "pajama_hours": 5 / 60,
        "ehr_time8": 32 / 60 * 8 / sched_h, "wow8": 22 / 60 * 8 / sched_h,
        "ib_time8": 10 / 60 * 8 / sched_h, "note_time8": 5 / 60 * 8 / sched_h,
        "presc_time8": 0.0, "order_time8": 5 / 60 * 8 / sched_h,
        "pajama_time8": 5 / 60 * 8 / sched_h,
        "ehr_hours_per_fte_week": 32 / 60 / fte_weeks, "wow_hours_per_fte_week": 22 / 60 / fte_weeks,
        "pajama_hours_per_fte_week": 5 / 60 / fte_weeks,
        "inbox_hours_per_fte_week": 10 / 60 / fte_weeks,
        "notes_hours_per_fte_week": 5 / 60 / fte_weeks,
        "ehr_minutes_per_sched_day": 32.0, "pajama_minutes_per_sched_day": 5.0,
        "inbox_minutes_per_sched_day": 10.0, "notes_minutes_per_sched_day": 5.0,
        "outside_schedule_window_minutes_per_sched_day": 12.0,
        "undivided_attention_pct": 100 * (1 - 10 / 30),
    })


def test_epic_action_map_and_landing_override(tmp_path: Path) -> None:
    write(tmp_path / "reference" / "category_map.csv", MAP, [
        {"format": "epic_access_log", "action": "Notes viewed", "report_name": "Inbox Report",
         "category": "inbox", "is_prescription": "false"},
        {"format": "epic_access_log", "action": "Clinical Note Signed", "report_name": "",
         "category": "orders", "is_prescription": "true"},
        {"format": "epic_access_log", "action": "Mystery", "report_name": "",
         "category": "other", "is_prescription": "true"},
    ])
    rows = [
        ("10:00", "In Basket message viewed", ""),        # inbox 1
        ("10:01", "Medication order signed", ""),         # orders+presc 2 (10:02 is excluded)
        ("10:02", "Order transmitted", ""),               # exclude
        ("10:03", "Notes viewed", "Inbox Report"),        # inbox 1 (report-specific row)
        ("10:04", "Notes viewed", "Something else"),      # chart_review 1 (action, any)
        ("10:05", "Clinical Note Signed", ""),            # overridden: orders+presc 1
        ("10:06", "Mystery", ""),                         # other 1, not a prescription
        ("10:07", "Results Review accessed", ""),         # last: nothing
    ]
    epic(tmp_path, [{"USER_ID": "u1", "ACCESS_INSTANT": f"2026-03-04 {t}:00", "METRIC_NAME": a,
                     "REPORT_NAME": r} for t, a, r in rows])
    days, _ = compute(tmp_path)
    d = day(days, "u1", "2026-03-04")
    assert (d["events"], d["ehr_minutes"], d["inbox_minutes"], d["orders_minutes"],
            d["prescriptions_minutes"], d["chart_review_minutes"], d["notes_minutes"],
            d["other_minutes"]) == (7, 7.0, 2.0, 3.0, 3.0, 1.0, 0.0, 1.0)


def test_canonical_own_category_wins_and_is_never_a_prescription(tmp_path: Path) -> None:
    write(tmp_path / "reference" / "category_map.csv", MAP, [
        {"format": "canonical", "action": "Rx", "report_name": "", "category": "orders",
         "is_prescription": "true"}])
    canonical(tmp_path, [
        ev("c1", "2026-03-04T10:00:00Z", "Rx", category="orders"),
        ev("c1", "2026-03-04T10:01:00Z", "Rx"),
        ev("c1", "2026-03-04T10:03:00Z", "Rx", category="Exclude"),
        ev("c1", "2026-03-04T10:04:00Z", "Rx", category="notes"),
        ev("c1", "2026-03-04T10:05:00Z", "other"),
    ])
    days, _ = compute(tmp_path)
    d = day(days, "c1", "2026-03-04")
    assert (d["events"], d["orders_minutes"], d["prescriptions_minutes"], d["notes_minutes"]) == (
        4, 4.0, 3.0, 1.0)


def test_dedup_across_files_gzip_whitespace_and_ties(tmp_path: Path) -> None:
    canonical(tmp_path, [
        ev("c1", "2026-03-04T10:00:00Z", "A", category="inbox", patient_id="p1", workstation_id="w1"),
    ], name="a.csv")
    canonical(tmp_path, [
        # same event again (whitespace stripped, same instant written differently): dropped
        ev(" c1 ", "2026-03-04T05:00:00-05:00", " A ", category="notes", patient_id="p1",
           workstation_id="w1"),
        ev("c1", "2026-03-04T10:01:00Z", "B"),
    ], name="b.csv.gz")
    days, _ = compute(tmp_path)
    d = day(days, "c1", "2026-03-04")
    assert (d["events"], d["inbox_minutes"], d["notes_minutes"]) == (2, 1.0, 0.0)


def test_same_instant_ties_by_action_then_workstation(tmp_path: Path) -> None:
    canonical(tmp_path, [
        ev("c1", "2026-03-04T10:00:00Z", "B", category="notes"),
        ev("c1", "2026-03-04T10:00:00Z", "A", category="inbox"),
        ev("c1", "2026-03-04T10:01:00Z", "C", category="orders", workstation_id="w1"),
        ev("c1", "2026-03-04T10:01:00Z", "C", category="inbox"),
        ev("c1", "2026-03-04T10:03:00Z", "end"),
    ])
    days, _ = compute(tmp_path)
    d = day(days, "c1", "2026-03-04")
    # 10:00-10:01 takes B (notes); 10:01-10:03 takes C on w1 (orders), '' sorting first
    assert (d["events"], d["notes_minutes"], d["orders_minutes"], d["inbox_minutes"]) == (
        5, 1.0, 2.0, 0.0)


def test_schedule_replacement_cancel_offset_and_union(tmp_path: Path) -> None:
    write(tmp_path / "reference" / "schedule" / "a.csv", SCHEDULE, [
        {"clinician_id": "c1", "appointment_id": "A1", "start_time": "2026-03-04 09:00",
         "duration_minutes": "60", "status": "scheduled"},
        {"clinician_id": "c1", "appointment_id": "A2", "start_time": "2026-03-04 13:00",
         "duration_minutes": "30", "status": "completed"},
        {"clinician_id": "c1", "appointment_id": "A5", "start_time": "2026-03-05 09:00",
         "duration_minutes": "20", "status": "No_Show"},
        {"clinician_id": "c1", "appointment_id": "A6", "start_time": "2026-03-05 09:10",
         "duration_minutes": "20", "status": "arrived"},
    ])
    write(tmp_path / "reference" / "schedule" / "b.csv", SCHEDULE, [
        {"clinician_id": "c1", "appointment_id": "A1", "start_time": "2026-03-04 09:00",
         "duration_minutes": "60", "status": "CANCELED"},
        {"clinician_id": "c1", "appointment_id": "A3", "start_time": "2026-03-04T10:00:00-05:00",
         "duration_minutes": "30", "status": "Arrived"},
        {"clinician_id": "c1", "appointment_id": "A2", "start_time": "2026-03-04 13:00",
         "duration_minutes": "abc", "status": "completed"},
    ])
    days, periods = compute(tmp_path)
    wed, thu = day(days, "c1", "2026-03-04"), day(days, "c1", "2026-03-05")
    assert (wed["appointments"], wed["scheduled_minutes"], wed["events"]) == (2, 60.0, 0)
    assert (thu["appointments"], thu["scheduled_minutes"]) == (2, 30.0)
    (p,) = periods
    assert (p["appointments"], p["scheduled_days"], p["days_active"], p["events"]) == (4, 2, 0, 0)
    assert p["scheduled_hours"] == pytest.approx(1.5)
    assert p["ehr_time8"] == 0.0 and p["undivided_attention_pct"] == 100.0
    assert p["ehr_minutes_per_sched_day"] == 0.0


def test_appointment_crossing_midnight_is_taken_literally(tmp_path: Path) -> None:
    write(tmp_path / "reference" / "schedule" / "s.csv", SCHEDULE, [
        {"clinician_id": "c1", "appointment_id": "A1", "start_time": "2026-03-04T23:00:00",
         "duration_minutes": "90", "status": "scheduled"}])
    canonical(tmp_path, [ev("c1", "2026-03-05T00:10:00Z"), ev("c1", "2026-03-05T00:14:00Z")])
    days, _ = compute(tmp_path)
    wed, thu = day(days, "c1", "2026-03-04"), day(days, "c1", "2026-03-05")
    assert (wed["appointments"], wed["scheduled_minutes"], wed["ehr_minutes"]) == (1, 60.0, 0.0)
    assert thu == approx({**thu, "appointments": 0, "scheduled_minutes": 30.0, "ehr_minutes": 4.0,
                          "in_schedule_minutes": 4.0, "wow_minutes": 0.0,
                          "outside_schedule_window_minutes": 4.0,
                          "unscheduled_day_minutes": 4.0, "pajama_minutes": 4.0})


def test_holiday_and_iso_week_periods(tmp_path: Path) -> None:
    config(tmp_path, "period: week\nworkday_start: '08:00'\nworkday_end: 17:30\n")
    write(tmp_path / "reference" / "holidays.csv", ["date", "name"], [
        {"date": "2026-03-04", "name": "Founders Day"}])
    write(tmp_path / "reference" / "roster.csv", ROSTER, [
        {"clinician_id": "c1", "department": "IM", "clinical_fte": "1.0", "timezone": "UTC"}])
    canonical(tmp_path, [
        ev("c1", "2026-03-04T10:00:00Z"), ev("c1", "2026-03-04T10:04:00Z"),   # holiday
        ev("c1", "2026-03-05T07:56:00Z"), ev("c1", "2026-03-05T08:01:00Z"),   # 07:56-08:00 pajama
        ev("c1", "2026-03-08T10:00:00Z"), ev("c1", "2026-03-08T10:01:00Z"),   # Sunday
        ev("c1", "2026-03-09T10:00:00Z"), ev("c1", "2026-03-09T10:02:00Z"),   # next ISO week
    ])
    days, periods = compute(tmp_path)
    hol = day(days, "c1", "2026-03-04")
    assert (hol["is_holiday"], hol["is_weekend"], hol["pajama_minutes"]) == (True, False, 4.0)
    assert day(days, "c1", "2026-03-05")["pajama_minutes"] == 4.0
    assert [(p["period_start"], p["period_days"], p["events"]) for p in periods] == [
        (date(2026, 3, 2), 7, 6), (date(2026, 3, 9), 7, 2)]
    first = periods[0]
    assert first["ehr_hours"] == pytest.approx(10 / 60)
    # FTE 1.0; the data covers 03-04 to 03-09: 5 days of the first week, 1 of the second
    assert (first["coverage_days"], periods[1]["coverage_days"]) == (5, 1)
    assert first["ehr_hours_per_fte_week"] == pytest.approx(10 / 60 * 7 / 5)
    assert first["pajama_hours_per_fte_week"] == pytest.approx(9 / 60 * 7 / 5)
    assert periods[1]["ehr_hours_per_fte_week"] == pytest.approx(2 / 60 * 7)


def test_bad_files_and_rows_are_skipped(tmp_path: Path) -> None:
    good = [ev("c1", "2026-03-04T10:00:00Z"), ev("c1", "2026-03-04T10:01:00Z")]
    bad_rows = [
        ev("", "2026-03-04T10:00:30Z"),
        ev("c1", "yesterday"),
        ev("c1", "2026-03-04"),
        ev("c1", "2026-03-04T10:00:40Z", category="bogus"),
        ev("c1", "2026-03-04T10:00:50Z", action=""),
    ]
    canonical(tmp_path, good + bad_rows)
    truncated = gzip.compress(csv_text(CANONICAL, good).encode())[:-12]
    (tmp_path / "audit" / "canonical" / "broken.csv.gz").write_bytes(truncated)
    write(tmp_path / "audit" / "canonical" / "wrong_header.csv", ["who", "when"],
          [{"who": "c1", "when": "2026-03-04T10:00:20Z"}])
    write(tmp_path / "audit" / "unknown_vendor" / "x.csv", CANONICAL,
          [ev("c1", "2026-03-04T10:00:10Z")])
    (tmp_path / "audit" / "canonical" / "notes.txt").write_text("not an extract")
    days, _ = compute(tmp_path)
    assert [(r["clinician_id"], r["events"], r["ehr_minutes"]) for r in days] == [("c1", 2, 1.0)]


def test_roster_rows_with_invalid_values_are_ignored(tmp_path: Path) -> None:
    write(tmp_path / "reference" / "roster.csv", ROSTER, [
        {"clinician_id": "c1", "department": "IM", "clinical_fte": "2.0", "timezone": ""},
        {"clinician_id": "c2", "department": "IM", "clinical_fte": "1", "timezone": "Mars/Base"},
        {"clinician_id": "c3", "department": "", "clinical_fte": "", "timezone": "Europe/Berlin"},
    ])
    canonical(tmp_path, [ev(c, "2026-03-04T10:00:00Z") for c in ("c1", "c2", "c3")]
              + [ev(c, "2026-03-04T10:01:00Z") for c in ("c1", "c2", "c3")])
    _, periods = compute(tmp_path)
    got = {p["clinician_id"]: (p["department"], p["clinical_fte"], p["timezone"],
                               p["ehr_hours_per_fte_week"]) for p in periods}
    assert got == {"c1": ("unknown", None, "UTC", None), "c2": ("unknown", None, "UTC", None),
                   "c3": ("unknown", None, "Europe/Berlin", None)}


def test_period_days_of_february_and_leap_year(tmp_path: Path) -> None:
    canonical(tmp_path, [ev("c1", "2026-02-10T10:00:00Z"), ev("c1", "2028-02-10T10:00:00Z")])
    _, periods = compute(tmp_path)
    assert [(p["period_start"], p["period_days"], p["days_active"]) for p in periods] == [
        (date(2026, 2, 1), 28, 0), (date(2028, 2, 1), 29, 0)]


def test_equivalent_naive_and_offset_times_agree(tmp_path: Path) -> None:
    # a naive canonical time in default_timezone equals the same instant written with an offset
    config(tmp_path, "default_timezone: Europe/Berlin\n")
    canonical(tmp_path, [ev("c1", "2026-07-01T12:00:00"), ev("c1", "2026-07-01 10:03:30Z")])
    days, _ = compute(tmp_path)
    assert day(days, "c1", "2026-07-01")["ehr_minutes"] == 3.5
