"""Property tests: invariants of the day and period tables over random event streams (SPEC 4-6).

Streams are built around the two 2026 DST days of America/New_York (2026-03-08, 23 hours, and
2026-11-01, 25 hours). Each example runs the sql/ models alone on its rows, in memory
(tests/sqlmodels.py); the second-run property runs the whole pipeline twice over a landing zone.
"""

from __future__ import annotations

import csv
import random
import tempfile
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

NY = "America/New_York"
# Local midnight (as a UTC instant) of each DST day in New York.
ANCHORS = (datetime(2026, 3, 8, 5, tzinfo=UTC), datetime(2026, 11, 1, 4, tzinfo=UTC))
# Canonical actions and the own category each carries (None: looked up, unmapped -> other).
ACTIONS = {"open": "inbox", "note": "notes", "order": "orders", "chart": "chart_review",
           "misc": None, "Other": "other", "sys": "exclude"}
CLINICIANS = ("a", "b", "c")
ZONES = {"a": NY, "b": NY, "c": "America/Chicago"}  # 'b' has no roster row: default zone
ROSTER = [
    {"clinician_id": "a", "department": "FM", "specialty": "", "role": "MD",
     "clinical_fte": "1.0", "timezone": NY},
    {"clinician_id": "c", "department": "IM", "specialty": "", "role": "MD",
     "clinical_fte": "0.5", "timezone": "America/Chicago"},
]
CANONICAL = ["clinician_id", "event_time", "action", "category", "patient_id", "workstation_id"]
SCHEDULE = ["clinician_id", "appointment_id", "start_time", "duration_minutes", "status"]
CATEGORY_COLUMNS = ("inbox_minutes", "notes_minutes", "orders_minutes", "chart_review_minutes",
                    "other_minutes")
MINUTE_COLUMNS = CATEGORY_COLUMNS + (
    "scheduled_minutes", "ehr_minutes", "prescriptions_minutes", "in_schedule_minutes",
    "wow_minutes", "outside_schedule_window_minutes", "unscheduled_day_minutes", "pajama_minutes")
EPS = 1e-9



def property_settings(examples: int) -> settings:
    """At most 25 examples, no deadline (a pipeline run takes ~0.3-1 s), no example database."""
    return settings(max_examples=examples, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# --------------------------------------------------------------------------------------------
# landing zone and warehouse helpers (self-contained: no function-scoped fixture)
# --------------------------------------------------------------------------------------------

def _write_csv(path: Path, columns: list[str], rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({c: ("" if row.get(c) is None else row[c]) for c in columns})


def build_landing(root: Path, event_files: dict[str, list[dict[str, Any]]],
                  appointments: list[dict[str, Any]], config: dict[str, Any]) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / "wow.yaml").write_text(yaml.safe_dump(config))
    for name, rows in event_files.items():
        _write_csv(root / "audit" / "canonical" / name, CANONICAL, rows)
    _write_csv(root / "reference" / "roster.csv",
               ["clinician_id", "department", "specialty", "role", "clinical_fte", "timezone"],
               ROSTER)
    _write_csv(root / "reference" / "schedule" / "schedule.csv", SCHEDULE, appointments)


def run_pipeline(landing: Path, warehouse: Path) -> Any:
    from wow_metrics.pipeline import run

    return run(landing, warehouse)


def model_tables(root: Path, event_files: dict[str, list[dict[str, Any]]],
                 appointments: list[dict[str, Any]], config: dict[str, Any],
                 ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The day and period tables of the sql/ models alone on these rows (tests/sqlmodels.py)."""
    from sqlmodels import Models

    models = Models(root)
    models.config(**config)
    for name, rows in event_files.items():
        models.canonical(rows, name)
    models.roster(ROSTER)
    models.schedule(appointments)
    result = models.run()
    return (result.table("ehr_time_by_clinician_day", "clinician_id, activity_date"),
            result.table("ehr_time_by_clinician_period", "clinician_id, period_start"))


def fetch(warehouse: Path, table: str, order_by: str) -> list[dict[str, Any]]:
    with duckdb.connect(str(warehouse / "wow.duckdb"), read_only=True) as con:
        cur = con.execute(f"select * from {table} order by {order_by}")
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def day_table(warehouse: Path) -> list[dict[str, Any]]:
    return fetch(warehouse, "ehr_time_by_clinician_day", "clinician_id, activity_date")


def period_table(warehouse: Path) -> list[dict[str, Any]]:
    return fetch(warehouse, "ehr_time_by_clinician_period", "clinician_id, period_start")


def assert_same_rows(left: list[dict[str, Any]], right: list[dict[str, Any]], exact: bool) -> None:
    assert len(left) == len(right)
    for a, b in zip(left, right, strict=True):
        assert a.keys() == b.keys()
        for k in a:
            if exact or not isinstance(a[k], float):
                assert a[k] == b[k], (k, a, b)
            else:
                assert b[k] == pytest.approx(a[k], rel=1e-12, abs=1e-12), (k, a, b)


def day_length_minutes(tz: str, d: date) -> float:
    zone = ZoneInfo(tz)
    start = datetime(d.year, d.month, d.day, tzinfo=zone).astimezone(UTC)
    nxt = d + timedelta(days=1)
    end = datetime(nxt.year, nxt.month, nxt.day, tzinfo=zone).astimezone(UTC)
    return (end - start).total_seconds() / 60


def iso_z(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# --------------------------------------------------------------------------------------------
# strategies
# --------------------------------------------------------------------------------------------

# Gaps in milliseconds: short ones, ties, the default threshold's edges, and idle ones.
GAPS_MS = st.one_of(
    st.integers(0, 400_000),
    st.sampled_from([0, 0, 299_999, 300_000, 300_001, 60_000, 60_001]),
    st.integers(400_000, 3 * 3600_000),
)


@st.composite
def event_streams(draw: Any, dense: bool = False) -> dict[str, Any]:
    anchor = draw(st.sampled_from(ANCHORS))
    rows: list[dict[str, Any]] = []
    for _ in range(draw(st.integers(1, 5))):
        cid = draw(st.sampled_from(CLINICIANS))
        t = anchor + timedelta(seconds=draw(st.integers(-6 * 3600, 30 * 3600)))
        for _ in range(draw(st.integers(1, 25))):
            action = draw(st.sampled_from(sorted(ACTIONS)))
            rows.append({
                "clinician_id": cid, "event_time": iso_z(t), "action": action,
                "category": ACTIONS[action],
                "patient_id": draw(st.sampled_from(["", "P1", "P2"])),
                "workstation_id": draw(st.sampled_from(["", "W1", "W10", "W2"])),
            })
            t += timedelta(milliseconds=draw(GAPS_MS))
    if dense:
        # Clinician 'a' is active all through the anchor day: events every 300 s from 2 h
        # before its local midnight to 2 h after the next one.
        t, end = anchor - timedelta(hours=2), anchor + timedelta(hours=27)
        while t <= end:
            rows.append({"clinician_id": "a", "event_time": iso_z(t), "action": "note",
                         "category": "notes", "patient_id": "", "workstation_id": "W1"})
            t += timedelta(seconds=300)
    appointments = []
    for i in range(draw(st.integers(0, 5))):
        start = anchor + timedelta(minutes=draw(st.integers(-6 * 60, 30 * 60)))
        appointments.append({
            "clinician_id": draw(st.sampled_from(CLINICIANS)),
            "appointment_id": f"A{draw(st.integers(0, 6)) if i % 2 else i}",
            "start_time": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "duration_minutes": draw(st.one_of(st.integers(1, 240),
                                               st.sampled_from([720, 1380, 1440]))),
            "status": draw(st.sampled_from(["scheduled", "Completed", "NO_SHOW", "arrived",
                                            "canceled", "Canceled"])),
        })
    if dense and draw(st.booleans()):
        # a whole-day appointment (the longest allowed) from the anchor day's local midnight
        appointments.append({"clinician_id": "a", "appointment_id": "FULL",
                             "start_time": anchor.strftime("%Y-%m-%dT%H:%M:%SZ"),
                             "duration_minutes": 1440, "status": "scheduled"})
    threshold = draw(st.sampled_from([60, 300, 300, 301, 900]))
    return {"anchor": anchor, "rows": rows, "appointments": appointments,
            "config": {"default_timezone": NY, "idle_threshold_seconds": threshold}}


def expected_active_us(rows: list[dict[str, Any]], threshold_s: float) -> int:
    """Sum over each clinician's sorted unique non-excluded events of the gaps <= threshold."""
    unique = {(r["clinician_id"], r["event_time"], r["action"], r["patient_id"],
               r["workstation_id"]) for r in rows if ACTIONS[r["action"]] != "exclude"}
    by_clinician: dict[str, list[int]] = defaultdict(list)
    for cid, when, *_ in unique:
        t = datetime.fromisoformat(when.replace("Z", "+00:00"))
        by_clinician[cid].append((t - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1))
    total = 0
    limit = round(threshold_s * 1_000_000)
    for instants in by_clinician.values():
        instants.sort()
        for t0, t1 in zip(instants, instants[1:], strict=False):
            if t1 - t0 <= limit:
                total += t1 - t0
    return total


def unique_event_count(rows: list[dict[str, Any]]) -> int:
    return len({(r["clinician_id"], r["event_time"], r["action"], r["patient_id"],
                 r["workstation_id"]) for r in rows if ACTIONS[r["action"]] != "exclude"})


# --------------------------------------------------------------------------------------------
# properties
# --------------------------------------------------------------------------------------------

@property_settings(25)
@given(stream=event_streams())
def test_day_rows_are_consistent_and_total_active_time_matches_the_timeline(stream):
    with tempfile.TemporaryDirectory() as tmp:
        days, _ = model_tables(Path(tmp), {"events.csv": stream["rows"]}, stream["appointments"],
                               stream["config"])

    for row in days:
        where = f"{row['clinician_id']} {row['activity_date']}"
        for column in MINUTE_COLUMNS:
            assert row[column] >= -EPS, (where, column, row[column])
        ehr = row["ehr_minutes"]
        assert sum(row[c] for c in CATEGORY_COLUMNS) == pytest.approx(ehr, abs=EPS), where
        assert row["wow_minutes"] == pytest.approx(ehr - row["in_schedule_minutes"], abs=EPS)
        assert row["wow_minutes"] <= ehr + EPS, where
        assert row["pajama_minutes"] <= ehr + EPS, where
        assert row["in_schedule_minutes"] <= ehr + EPS, where
        assert row["in_schedule_minutes"] <= row["scheduled_minutes"] + EPS, where
        assert row["outside_schedule_window_minutes"] <= ehr + EPS, where
        assert row["prescriptions_minutes"] <= row["orders_minutes"] + EPS, where
        expected_unscheduled = ehr if row["appointments"] == 0 else 0.0
        assert row["unscheduled_day_minutes"] == pytest.approx(expected_unscheduled, abs=EPS)
        if row["appointments"] == 0:
            assert row["outside_schedule_window_minutes"] == pytest.approx(ehr, abs=EPS), where
        if row["is_weekend"] or row["is_holiday"]:
            assert row["pajama_minutes"] == pytest.approx(ehr, abs=EPS), where
        assert row["events"] > 0 or row["scheduled_minutes"] > 0 or ehr > 0, where

    total_us = round(sum(r["ehr_minutes"] for r in days) * 60e6)
    expected = expected_active_us(stream["rows"], stream["config"]["idle_threshold_seconds"])
    assert total_us == pytest.approx(expected, abs=2)
    assert sum(r["events"] for r in days) == unique_event_count(stream["rows"])


@property_settings(20)
@given(stream=event_streams(dense=True))
def test_no_day_exceeds_its_real_length(stream):
    with tempfile.TemporaryDirectory() as tmp:
        days, _ = model_tables(Path(tmp), {"events.csv": stream["rows"]}, stream["appointments"],
                               stream["config"])

    for row in days:
        limit = day_length_minutes(ZONES[row["clinician_id"]], row["activity_date"])
        assert limit in (1380.0, 1440.0, 1500.0)
        where = f"{row['clinician_id']} {row['activity_date']} (real length {limit})"
        assert row["ehr_minutes"] <= limit + EPS, (where, row["ehr_minutes"])
        assert row["scheduled_minutes"] <= limit + EPS, (where, row["scheduled_minutes"])
    # The dense chain keeps 'a' active all through the anchor day (threshold >= 300 s).
    anchor_day = stream["anchor"].astimezone(ZoneInfo(NY)).date()
    a_day = next(r for r in days if r["clinician_id"] == "a" and r["activity_date"] == anchor_day)
    if stream["config"]["idle_threshold_seconds"] >= 300:
        assert a_day["ehr_minutes"] == pytest.approx(day_length_minutes(NY, anchor_day), abs=EPS)
    if any(a["appointment_id"] == "FULL" for a in stream["appointments"]):
        # 1440 minutes from local midnight: covers the whole 23-hour day, or 1440 of the 25.
        # Other appointments of 'a' can only add to that union (exactly it when there are none).
        full = min(1440.0, day_length_minutes(NY, anchor_day))
        others = [a for a in stream["appointments"] if a["clinician_id"] == "a"
                  and a["appointment_id"] != "FULL" and a["status"].lower() != "canceled"]
        if others:
            assert a_day["scheduled_minutes"] >= full - EPS
        else:
            assert a_day["scheduled_minutes"] == pytest.approx(full, abs=EPS)


@property_settings(15)
@given(stream=event_streams(), seed=st.integers(0, 2**32 - 1), n_files=st.integers(1, 4))
def test_shuffling_and_splitting_the_input_changes_nothing(stream, seed, n_files):
    rows = stream["rows"]
    rng = random.Random(seed)
    shuffled = rows[:]
    rng.shuffle(shuffled)
    files: dict[str, list[dict[str, Any]]] = {f"part_{i}.csv": [] for i in range(n_files)}
    names = sorted(files)
    for row in shuffled:
        files[rng.choice(names)].append(row)
    with tempfile.TemporaryDirectory() as tmp:
        base = model_tables(Path(tmp) / "base", {"events.csv": rows}, stream["appointments"],
                            stream["config"])
        split = model_tables(Path(tmp) / "split", files, stream["appointments"], stream["config"])
    assert_same_rows(base[0], split[0], exact=True)
    assert_same_rows(base[1], split[1], exact=False)


@property_settings(5)
@given(stream=event_streams(), n_files=st.integers(1, 3))
def test_second_run_over_the_same_landing_zone_is_identical(stream, n_files):
    files = {f"day_{i}.csv": stream["rows"][i::n_files] for i in range(n_files)}
    with tempfile.TemporaryDirectory() as tmp:
        root, wh = Path(tmp) / "landing", Path(tmp) / "warehouse"
        build_landing(root, files, stream["appointments"], stream["config"])
        run_pipeline(root, wh)
        first_days, first_periods = day_table(wh), period_table(wh)
        summary = run_pipeline(root, wh)
        assert summary.ingest.files_ingested == 0
        assert summary.ingest.rows_read == 0
        assert_same_rows(first_days, day_table(wh), exact=True)
        assert_same_rows(first_periods, period_table(wh), exact=True)
