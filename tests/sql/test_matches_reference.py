"""The published day and period tables equal an independent implementation of the SPEC.

tests/reference/spec_reference.py is plain Python (zoneinfo, integer microseconds) written
separately from the SQL; every figure must agree to within a microsecond.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from conftest import Landing
from reference.spec_reference import compute

pytestmark = pytest.mark.gx  # end to end: the gate runs Great Expectations

MICROSECOND_MINUTES = 1 / 60e6
EPIC_ACTIONS = [
    "In Basket message viewed", "Secure chat message sent", "Clinical Note Signed",
    "Pend clinical note", "Order list changed", "Medication order signed", "Results Review accessed",
    "Notes viewed", "In Basket message created", "Order transmitted", "Schedule viewed",
]
CANONICAL_ACTIONS = ["inbox_open", "note_edit", "order_entry", "chart_open", "misc"]
ZONES = ["America/New_York", "America/Chicago", "America/Los_Angeles", "Australia/Lord_Howe",
         "Europe/London"]
# Dates around DST changes, month ends and a weekend.
ANCHORS = [dt.date(2026, 3, 7), dt.date(2026, 3, 29), dt.date(2026, 4, 4), dt.date(2026, 10, 31),
           dt.date(2026, 10, 3)]


def _iso(instant: dt.datetime, zone: ZoneInfo) -> str:
    return instant.astimezone(zone).isoformat(timespec="microseconds")


def _random_landing(landing: Landing, seed: int) -> None:
    rng = random.Random(seed)
    default_tz = "America/New_York"
    landing.config(default_timezone=default_tz,
                   idle_threshold_seconds=rng.choice([300, 300, 120, 600]),
                   period=rng.choice(["month", "week"]))
    roster, schedule, canonical, epic = [], [], [], []
    for c in range(5):
        cid = f"R{seed}-{c}"
        zone_name = rng.choice(ZONES)
        zone = ZoneInfo(zone_name)
        if c < 4:
            roster.append({"clinician_id": cid, "department": rng.choice(["A", "B"]),
                           "specialty": "s", "role": "physician",
                           "clinical_fte": rng.choice(["1.0", "0.6", ""]), "timezone": zone_name})
        else:
            zone = ZoneInfo(default_tz)  # no roster row: the default zone
        anchor = rng.choice(ANCHORS)
        local_start = dt.datetime.combine(anchor, dt.time(0), tzinfo=zone)
        # Appointments: sessions, overlaps, one across midnight, some canceled.
        for a in range(rng.randint(0, 8)):
            day = anchor + dt.timedelta(days=rng.randint(0, 2))
            start = dt.datetime.combine(day, dt.time(rng.choice([0, 7, 8, 9, 13, 16, 23]),
                                                      rng.choice([0, 15, 30, 45])))
            schedule.append({
                "clinician_id": cid, "appointment_id": f"{cid}-A{a}",
                "start_time": start.isoformat(), "duration_minutes": rng.choice([15, 20, 30, 90, 200]),
                "status": rng.choice(["completed", "Arrived", "no_show", "canceled", "scheduled"]),
            })
        # Events: bursts at random places within three local days, with ties and duplicates.
        instant = local_start.astimezone(dt.UTC) + dt.timedelta(minutes=rng.randint(0, 600))
        fmt = "epic" if c % 2 == 0 else "canonical"
        for _ in range(rng.randint(20, 120)):
            instant += dt.timedelta(microseconds=rng.choice(
                [0, 1, 30_000_000, 299_999_999, 300_000_000, 300_000_001, 90_000_000,
                 rng.randint(1, 4 * 3600) * 1_000_000]))
            ws = rng.choice(["", "W1", "W2"])
            if fmt == "epic":
                row = {"USER_ID": cid, "METRIC_NAME": rng.choice(EPIC_ACTIONS),
                       "WORKSTATION_ID": ws, "PAT_ID": rng.choice(["", "Z1", "Z2"])}
                if rng.random() < 0.1:
                    row["ACCESS_TIME"] = instant.astimezone(ZoneInfo(default_tz)).strftime(
                        "%Y-%m-%d %H:%M:%S.%f")
                    if ZoneInfo(default_tz).fromutc(instant.replace(tzinfo=ZoneInfo(default_tz))
                                                    ).fold:
                        row["ACCESS_TIME"] = ""  # repeated hour: keep the instant unambiguous
                if not row.get("ACCESS_TIME"):
                    row["ACCESS_INSTANT"] = instant.strftime("%Y-%m-%d %H:%M:%S.%f")
                epic.append(row)
            else:
                row = {"clinician_id": cid, "event_time": _iso(instant, zone),
                       "action": rng.choice(CANONICAL_ACTIONS), "workstation_id": ws,
                       "category": rng.choice(["", "", "inbox", "notes", "orders", "exclude"])}
                canonical.append(row)
            if rng.random() < 0.05:  # an exact duplicate somewhere
                (epic if fmt == "epic" else canonical).append(dict(row))
    rng.shuffle(canonical)
    rng.shuffle(epic)
    landing.roster(roster)
    half = len(schedule) // 2
    landing.schedule(schedule[:half], name="a.csv")
    landing.schedule(schedule[half:], name="b.csv")
    landing.holidays([{"date": str(ANCHORS[seed % len(ANCHORS)] + dt.timedelta(days=1)),
                       "name": "Wellness day"}])
    if canonical:
        cut = len(canonical) // 2
        landing.canonical(canonical[:cut], name="n1.csv",
                          columns=["clinician_id", "event_time", "action", "category", "workstation_id"])
        landing.canonical(canonical[cut:], name="n2.csv",
                          columns=["clinician_id", "event_time", "action", "category", "workstation_id"])
    if epic:
        landing.epic(epic, name="e1.csv")


def _assert_rows_match(actual: list[dict], expected: list[dict], key: tuple[str, ...]) -> None:
    by_key = {tuple(r[k] for k in key): r for r in expected}
    got = {tuple(r[k] for k in key): r for r in actual}
    assert sorted(got) == sorted(by_key), "row keys differ"
    for k, exp in by_key.items():
        act = got[k]
        for column, want in exp.items():
            assert column in act, f"missing column {column}"
            have = act[column]
            if isinstance(want, float) or isinstance(have, float):
                if want is None or have is None:
                    assert want is None and have is None, f"{k} {column}: {have} != {want}"
                    continue
                tolerance = MICROSECOND_MINUTES if column.endswith("_minutes") else 1e-9
                assert math.isclose(have, want, rel_tol=1e-12, abs_tol=tolerance), \
                    f"{k} {column}: pipeline {have!r} != reference {want!r}"
            else:
                assert have == want, f"{k} {column}: pipeline {have!r} != reference {want!r}"


@pytest.mark.parametrize("seed", range(int(__import__("os").environ.get("WOW_REF_SEEDS", "8"))))
def test_random_landing_matches_reference(landing: Landing, seed: int) -> None:
    _random_landing(landing, seed)
    expected_days, expected_periods = compute(landing.root)
    published = landing.run()
    days = published.table("ehr_time_by_clinician_day")
    periods = published.table("ehr_time_by_clinician_period")
    assert len(expected_days) > 0
    _assert_rows_match(days, expected_days, ("clinician_id", "activity_date"))
    _assert_rows_match(periods, expected_periods, ("clinician_id", "period_start"))


def test_sample_matches_reference(tmp_path: Path) -> None:
    from conftest import SAMPLE_LANDING

    from wow_metrics.pipeline import run

    assert (SAMPLE_LANDING / "audit").is_dir(), "the bundled sample is part of the repository"
    expected_days, expected_periods = compute(SAMPLE_LANDING)
    run(SAMPLE_LANDING, tmp_path / "wh")
    from conftest import Published

    published = Published(tmp_path / "wh", None)
    _assert_rows_match(published.table("ehr_time_by_clinician_day"), expected_days,
                       ("clinician_id", "activity_date"))
    _assert_rows_match(published.table("ehr_time_by_clinician_period"), expected_periods,
                       ("clinician_id", "period_start"))

    # The pandas baseline the scale benchmark times wow against computes the same day figures
    # (so the benchmark compares like with like).
    import importlib.util

    from conftest import REPO_ROOT

    spec = importlib.util.spec_from_file_location("pandas_baseline",
                                                  REPO_ROOT / "bench" / "pandas_baseline.py")
    baseline = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(baseline)
    frame = baseline.compute_days(SAMPLE_LANDING)
    columns = [c for c in frame.columns]
    assert len(columns) >= 12 and "pajama_minutes" in columns and "in_schedule_minutes" in columns
    published_days = {(r["clinician_id"], r["activity_date"]): r
                      for r in published.table("ehr_time_by_clinician_day")}
    assert len(frame) == len(published_days)
    for row in frame.to_dict("records"):
        day = published_days[(row["clinician_id"], row["activity_date"])]
        for column in columns:
            assert row[column] == day[column], (row["clinician_id"], row["activity_date"], column)


def test_generated_landing_across_dst_matches_reference(tmp_path: Path) -> None:
    """The generator's realistic shape over the spring DST change, several time zones."""
    from conftest import Published

    from wow_metrics.generate import generate_landing
    from wow_metrics.pipeline import run

    landing = tmp_path / "landing"
    generate_landing(landing, clinicians=6, days=14, seed=11, start=dt.date(2026, 3, 2),
                     events_per_clinician_day=120)
    expected_days, expected_periods = compute(landing)
    run(landing, tmp_path / "wh")
    published = Published(tmp_path / "wh", None)
    days = published.table("ehr_time_by_clinician_day")
    assert any(r["activity_date"] == dt.date(2026, 3, 8) for r in days)
    _assert_rows_match(days, expected_days, ("clinician_id", "activity_date"))
    _assert_rows_match(published.table("ehr_time_by_clinician_period"), expected_periods,
                       ("clinician_id", "period_start"))
