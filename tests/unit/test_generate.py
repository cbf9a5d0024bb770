"""The synthetic landing-zone generator: layout per SPEC section 1, determinism, data shape."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import re
from collections import Counter
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml
from conftest import PUBLISHED_RANGES, REPO_ROOT, SAMPLE_LANDING, org_medians

from wow_metrics.generate import CANONICAL_COLUMNS, EPIC_COLUMNS, generate_landing

NY = "America/New_York"
# The bundled sample's arguments: what `make sample` passes to `wow generate`.
SAMPLE_ARGS = dict(clinicians=12, days=45, seed=7, start=dt.date(2026, 2, 1))
SAMPLE_COMMAND = "generate --out data/sample --clinicians 12 --days 45 --seed 7 --start 2026-02-01"
STATUSES = {"scheduled", "arrived", "completed", "no_show", "canceled"}
CATEGORIES = {"inbox", "notes", "orders", "chart_review", "other"}


def _read(path: Path) -> list[dict[str, str]]:
    data = path.read_bytes()
    if path.name.endswith(".gz"):
        data = gzip.decompress(data)
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"))))


def _header(path: Path) -> list[str]:
    data = path.read_bytes()
    if path.name.endswith(".gz"):
        data = gzip.decompress(data)
    return next(csv.reader(io.StringIO(data.decode("utf-8"))))


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def _epic_files(root: Path) -> list[Path]:
    return sorted((root / "audit" / "epic_access_log").rglob("*.csv*"))


def _canonical_files(root: Path) -> list[Path]:
    return sorted((root / "audit" / "canonical").rglob("*.csv"))


def _zones(root: Path) -> dict[str, str]:
    return {
        r["clinician_id"]: r["timezone"] or NY for r in _read(root / "reference" / "roster.csv")
    }


def _instants(root: Path) -> list[tuple[str, str, dt.datetime, str]]:
    """(clinician, format, UTC instant, dedup key) of every event row."""
    out = []
    for path in _epic_files(root):
        for r in _read(path):
            if r["ACCESS_INSTANT"]:
                t = dt.datetime.fromisoformat(r["ACCESS_INSTANT"]).replace(tzinfo=dt.UTC)
            else:
                t = dt.datetime.fromisoformat(r["ACCESS_TIME"]).replace(tzinfo=ZoneInfo(NY))
            key = "|".join(
                [
                    r["USER_ID"],
                    t.isoformat(),
                    r["METRIC_NAME"],
                    r["REPORT_NAME"],
                    r["PAT_ID"],
                    r["WORKSTATION_ID"],
                ]
            )
            out.append((r["USER_ID"], "epic", t.astimezone(dt.UTC), key))
    for path in _canonical_files(root):
        for r in _read(path):
            t = dt.datetime.fromisoformat(r["event_time"]).astimezone(dt.UTC)
            key = "|".join(
                [
                    r["clinician_id"],
                    t.isoformat(),
                    r["action"],
                    "",
                    r["patient_id"],
                    r["workstation_id"],
                ]
            )
            out.append((r["clinician_id"], "canonical", t, key))
    return out


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("gen") / "landing"
    return root, generate_landing(root, **SAMPLE_ARGS)


@pytest.fixture(scope="module")
def dst(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("gen_dst") / "landing"
    summary = generate_landing(
        root,
        clinicians=12,
        days=21,
        seed=11,
        start=dt.date(2026, 3, 2),
        events_per_clinician_day=120,
    )
    return root, summary


def test_same_seed_gives_identical_bytes(tmp_path: Path) -> None:
    kwargs = dict(clinicians=7, days=9, seed=3, events_per_clinician_day=80)
    s1 = generate_landing(tmp_path / "a", **kwargs)
    s2 = generate_landing(tmp_path / "b", **kwargs)
    s1.pop("out"), s2.pop("out")
    assert s1 == s2
    a, b = _files(tmp_path / "a"), _files(tmp_path / "b")
    assert a.keys() == b.keys()
    assert all(a[k] == b[k] for k in a)


def test_different_seed_differs(tmp_path: Path) -> None:
    generate_landing(tmp_path / "a", clinicians=7, days=9, seed=3, events_per_clinician_day=80)
    generate_landing(tmp_path / "b", clinicians=7, days=9, seed=4, events_per_clinician_day=80)
    a, b = _files(tmp_path / "a"), _files(tmp_path / "b")
    differing = [k for k in a.keys() & b.keys() if a[k] != b[k]]
    assert any("audit" in k for k in differing)
    assert any("schedule" in k for k in differing)


def test_layout_and_headers(sample: tuple[Path, dict]) -> None:
    root, summary = sample
    assert yaml.safe_load((root / "wow.yaml").read_text())["default_timezone"] == NY
    assert _header(root / "reference" / "roster.csv") == [
        "clinician_id",
        "department",
        "specialty",
        "role",
        "clinical_fte",
        "timezone",
    ]
    assert _header(root / "reference" / "holidays.csv") == ["date", "name"]
    cmap = _read(root / "reference" / "category_map.csv")
    assert list(cmap[0]) == ["format", "action", "report_name", "category", "is_prescription"]
    assert {r["format"] for r in cmap} == {"canonical"}
    assert {r["category"] for r in cmap} == {"inbox", "notes", "orders", "chart_review", "exclude"}
    assert [r["action"] for r in cmap if r["is_prescription"] == "true"] == ["prescription_sign"]
    schedules = sorted(p.name for p in (root / "reference" / "schedule").iterdir())
    assert schedules == ["schedule_2026-02.csv", "schedule_2026-03.csv"]
    for name in schedules:
        assert _header(root / "reference" / "schedule" / name) == [
            "clinician_id",
            "appointment_id",
            "start_time",
            "duration_minutes",
            "status",
        ]

    nights = [dt.date(2026, 2, 1) + dt.timedelta(days=i) for i in range(45)]
    epic = _epic_files(root)
    canonical = _canonical_files(root)
    assert [p.relative_to(root).as_posix() for p in epic] == [
        f"audit/epic_access_log/{d:%Y}/{d:%m}/access_log_{d.isoformat()}.csv.gz" for d in nights
    ]
    assert [p.relative_to(root).as_posix() for p in canonical] == [
        f"audit/canonical/{d:%Y}/{d:%m}/events_{d.isoformat()}.csv" for d in nights
    ]
    for p in epic:
        assert _header(p) == EPIC_COLUMNS
        raw = p.read_bytes()
        assert raw[3] & 0x08 == 0  # no file name in the gzip header
        assert raw[4:8] == b"\0\0\0\0"  # mtime 0
    for p in canonical:
        assert _header(p) == CANONICAL_COLUMNS
    all_files = [p for p in root.rglob("*") if p.is_file()]
    assert summary["files_written"] == len(all_files)
    assert summary["event_rows"]["epic_access_log"] == sum(len(_read(p)) for p in epic)
    assert summary["event_rows"]["canonical"] == sum(len(_read(p)) for p in canonical)
    assert summary["appointments"] == sum(
        len(_read(root / "reference" / "schedule" / n)) for n in schedules
    )
    assert summary["clinicians"] == 12 and summary["roster_rows"] == 11


def test_uncompressed_epic(tmp_path: Path) -> None:
    generate_landing(tmp_path, clinicians=4, days=3, events_per_clinician_day=50, gzip_epic=False)
    files = _epic_files(tmp_path)
    assert files and all(p.name.endswith(".csv") for p in files)
    assert _header(files[0]) == EPIC_COLUMNS


def test_each_clinician_uses_one_format(sample: tuple[Path, dict]) -> None:
    root, _ = sample
    by_format: dict[str, set[str]] = {"epic": set(), "canonical": set()}
    for clin, fmt, _t, _k in _instants(root):
        by_format[fmt].add(clin)
    assert by_format["epic"] and by_format["canonical"]
    assert not by_format["epic"] & by_format["canonical"]
    assert by_format["epic"] | by_format["canonical"] == {f"C{i:04d}" for i in range(1, 13)}
    assert len(by_format["epic"]) == 8


def test_roster(sample: tuple[Path, dict]) -> None:
    root, _ = sample
    roster = _read(root / "reference" / "roster.csv")
    ids = [r["clinician_id"] for r in roster]
    assert len(ids) == len(set(ids)) == 11
    assert all(re.fullmatch(r"C\d{4}", i) for i in ids)
    for r in roster:
        assert 0 < float(r["clinical_fte"]) <= 1.5
        assert r["role"] in {"physician", "APP"}
        if r["timezone"]:
            ZoneInfo(r["timezone"])
    zones = Counter(r["timezone"] for r in roster)
    assert zones[""] > len(roster) / 2
    assert zones["America/Chicago"] >= 1 and 1 <= zones["America/Los_Angeles"] <= 2
    # exactly one clinician with events has no roster row
    active = {c for c, *_ in _instants(root)}
    assert len(active - set(ids)) == 1


def test_no_unrostered_clinician_below_five(tmp_path: Path) -> None:
    generate_landing(tmp_path, clinicians=4, days=5, events_per_clinician_day=50)
    assert len(_read(tmp_path / "reference" / "roster.csv")) == 4
    assert {c for c, *_ in _instants(tmp_path)} <= {f"C{i:04d}" for i in range(1, 5)}


def test_epic_rows(sample: tuple[Path, dict]) -> None:
    root, _ = sample
    rows = [r for p in _epic_files(root) for r in _read(p)]
    missing = [r for r in rows if not r["ACCESS_INSTANT"]]
    assert 0.005 < len(missing) / len(rows) < 0.05
    assert all(r["ACCESS_TIME"] for r in missing)
    ny = ZoneInfo(NY)
    fmt = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}")
    for r in rows[:5000]:
        assert fmt.fullmatch(r["ACCESS_TIME"])
        if r["ACCESS_INSTANT"]:
            assert fmt.fullmatch(r["ACCESS_INSTANT"])
            utc = dt.datetime.fromisoformat(r["ACCESS_INSTANT"]).replace(tzinfo=dt.UTC)
            assert utc.astimezone(ny).replace(tzinfo=None) == dt.datetime.fromisoformat(
                r["ACCESS_TIME"]
            )
    names = Counter(r["METRIC_NAME"] for r in rows)
    for name in (
        "In Basket message viewed",
        "Save clinical note",
        "Medication order signed",
        "Results Review accessed",
        "In Basket message created",
        "Order transmitted",
        "Patient Lists accessed",
        "Schedule viewed",
    ):
        assert names[name] > 0, name
    assert sum(1 for r in rows if r["REPORT_NAME"]) < len(rows) / 10
    assert all(re.fullmatch(r"Z\d{7}", r["PAT_ID"]) for r in rows if r["PAT_ID"])
    assert all(re.fullmatch(r"WS-[A-Z]+-\d+", r["WORKSTATION_ID"]) for r in rows)
    assert all(r["CSN"].isdigit() for r in rows if r["CSN"])


def test_canonical_rows(sample: tuple[Path, dict]) -> None:
    root, _ = sample
    rows = [r for p in _canonical_files(root) for r in _read(p)]
    zulu = [r for r in rows if r["event_time"].endswith("Z")]
    assert 0 < len(zulu) < len(rows) / 2
    offset = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}(Z|[+-]\d\d:\d\d)")
    assert all(offset.fullmatch(r["event_time"]) for r in rows)
    filled = [r["category"] for r in rows if r["category"]]
    assert 0 < len(filled) < len(rows)
    assert set(filled) <= CATEGORIES
    actions = {r["action"] for r in rows}
    assert {"inbox_message_open", "note_edit", "order_entry", "chart_open"} <= actions
    mapped = {r["action"] for r in _read(root / "reference" / "category_map.csv")}
    assert actions - mapped == {"patient_list_view", "schedule_view"}  # these fall to `other`


def test_duplicates_within_and_across_nights(sample: tuple[Path, dict]) -> None:
    root, summary = sample
    within = across = 0
    seen: dict[str, Path] = {}
    for p in _epic_files(root) + _canonical_files(root):
        lines = (
            Counter(r for r in gzip.decompress(p.read_bytes()).decode().splitlines()[1:])
            if p.name.endswith(".gz")
            else Counter(p.read_text().splitlines()[1:])
        )
        within += sum(n - 1 for n in lines.values())
        for line in lines:
            if line in seen and seen[line] != p:
                across += 1
            seen.setdefault(line, p)
    assert within > 0 and across > 0
    assert within + across == sum(summary["duplicate_rows"].values())


def test_rows_not_in_time_order(sample: tuple[Path, dict]) -> None:
    root, _ = sample
    rows = _read(_canonical_files(root)[2])
    times = [dt.datetime.fromisoformat(r["event_time"]) for r in rows]
    assert times != sorted(times)
    assert len({r["clinician_id"] for r in rows[:50]}) > 1


def test_gaps_exercise_the_idle_threshold(sample: tuple[Path, dict]) -> None:
    root, _ = sample
    by_clin: dict[str, set[dt.datetime]] = {}
    for clin, _f, t, _k in _instants(root):
        by_clin.setdefault(clin, set()).add(t)
    gaps = Counter()
    for times in by_clin.values():
        ts = sorted(times)
        for a, b in zip(ts, ts[1:], strict=False):
            g = (b - a).total_seconds()
            gaps["exact300"] += g == 300
            gaps["idle"] += g > 300
            gaps["burst"] += 5 <= g <= 90
    total = sum(len(v) for v in by_clin.values())
    assert gaps["exact300"] > 0 and gaps["idle"] > 0
    assert gaps["burst"] > total / 2


def test_activity_shape(sample: tuple[Path, dict]) -> None:
    """Evening, weekend and across-midnight activity exists, in each clinician's local time."""
    root, _ = sample
    zones = _zones(root)
    hours = Counter()
    weekend = 0
    for clin, _f, t, _k in _instants(root):
        local = t.astimezone(ZoneInfo(zones.get(clin, NY)))
        hours[local.hour] += 1
        weekend += local.weekday() >= 5
    assert hours[19] + hours[20] + hours[21] + hours[22] > 0
    assert hours[23] > 0 and hours[0] > 0
    assert hours[6] > 0
    assert sum(hours[h] for h in range(8, 17)) > sum(hours.values()) / 2
    assert weekend > 0


def test_schedule(sample: tuple[Path, dict]) -> None:
    root, _ = sample
    rows = [r for p in sorted((root / "reference" / "schedule").iterdir()) for r in _read(p)]
    assert all(r["status"].lower() in STATUSES for r in rows)
    statuses = Counter(r["status"].lower() for r in rows)
    assert 0 < statuses["canceled"] < len(rows) / 10
    assert 0 < statuses["no_show"] < len(rows) / 10
    assert any(r["status"] != r["status"].lower() for r in rows)
    ids = [r["appointment_id"] for r in rows]
    assert len(ids) == len(set(ids))
    holidays = {r["date"] for r in _read(root / "reference" / "holidays.csv")}
    assert "2026-02-18" in holidays  # the wellness day, start + 17
    starts = [dt.datetime.fromisoformat(r["start_time"]) for r in rows]
    assert all(s.tzinfo is None for s in starts)
    assert all(s.weekday() < 5 and s.date().isoformat() not in holidays for s in starts)
    assert all(8 <= s.hour < 17 for s in starts)
    assert all(int(r["duration_minutes"]) in (15, 20, 30, 40) for r in rows)
    # overlapping double-bookings exist
    per_clin: dict[str, list[tuple[dt.datetime, int]]] = {}
    for r, s in zip(rows, starts, strict=True):
        per_clin.setdefault(r["clinician_id"], []).append((s, int(r["duration_minutes"])))
    overlaps = 0
    for appts in per_clin.values():
        appts.sort()
        for (s1, d1), (s2, _d2) in zip(appts, appts[1:], strict=False):
            overlaps += s2 < s1 + dt.timedelta(minutes=d1)
    assert overlaps > 0
    # part-time clinicians have fewer clinic days; some weekdays have no sessions
    fte = {
        r["clinician_id"]: float(r["clinical_fte"])
        for r in _read(root / "reference" / "roster.csv")
    }
    days = {c: len({s.date() for s, _ in a}) for c, a in per_clin.items()}
    weekdays = 31  # 32 weekdays in the range, less the wellness day
    assert any(n < weekdays for n in days.values())
    low = [days[c] for c in fte if fte[c] <= 0.6]
    high = [days[c] for c in fte if fte[c] >= 0.9]
    if low and high:
        assert max(low) < max(high)


def test_dst_crossing_range(dst: tuple[Path, dict]) -> None:
    root, summary = dst
    zones = _zones(root)
    rows = [r for p in sorted((root / "reference" / "schedule").iterdir()) for r in _read(p)]
    assert rows
    for r in rows:
        wall = dt.datetime.fromisoformat(r["start_time"])
        zone = ZoneInfo(zones.get(r["clinician_id"], NY))
        roundtrip = wall.replace(tzinfo=zone).astimezone(dt.UTC).astimezone(zone)
        assert roundtrip.replace(tzinfo=None) == wall, r  # the wall time exists
    # canonical offsets follow the real rules on both sides of 2026-03-08
    offsets = set()
    for p in _canonical_files(root):
        for r in _read(p):
            t = dt.datetime.fromisoformat(r["event_time"])
            zone = ZoneInfo(zones.get(r["clinician_id"], NY))
            if not r["event_time"].endswith("Z"):
                assert t.astimezone(zone).utcoffset() == t.utcoffset(), r
                if zone.key == NY:
                    offsets.add(r["event_time"][-6:])
    assert offsets == {"-05:00", "-04:00"}
    ny = ZoneInfo(NY)
    for p in _epic_files(root):
        for r in _read(p)[:300]:
            if r["ACCESS_INSTANT"]:
                utc = dt.datetime.fromisoformat(r["ACCESS_INSTANT"]).replace(tzinfo=dt.UTC)
                assert utc.astimezone(ny).replace(tzinfo=None) == dt.datetime.fromisoformat(
                    r["ACCESS_TIME"]
                )
    # every night has its file, including the short spring-forward day
    assert len(_epic_files(root)) == len(_canonical_files(root)) == 21
    assert "2026-03-19" in {r["date"] for r in _read(root / "reference" / "holidays.csv")}


def test_tiny_and_empty_inputs(tmp_path: Path) -> None:
    s = generate_landing(tmp_path / "one", clinicians=1, days=1, events_per_clinician_day=10)
    assert s["clinicians"] == 1 and s["roster_rows"] == 1
    assert len(_epic_files(tmp_path / "one")) == 1 and not _canonical_files(tmp_path / "one")
    s = generate_landing(tmp_path / "none", clinicians=3, days=2, events_per_clinician_day=0)
    assert s["event_rows"] == {"epic_access_log": 0, "canonical": 0}
    assert _header(_epic_files(tmp_path / "none")[0]) == EPIC_COLUMNS
    with pytest.raises(ValueError):
        generate_landing(tmp_path / "bad", clinicians=0)


def test_bundled_sample_is_what_make_sample_writes(sample: tuple[Path, dict]) -> None:
    """data/sample is the generator's output for SAMPLE_ARGS, byte for byte, and `make sample`
    regenerates it with them: regenerate it (`make sample`) whenever the generator changes."""
    root, _ = sample
    recipe = (REPO_ROOT / "Makefile").read_text().split("\nsample:", 1)[1].split("\n\n", 1)[0]
    assert SAMPLE_COMMAND in recipe
    ours, bundled = _files(root), _files(SAMPLE_LANDING)
    assert ours.keys() == bundled.keys()
    assert [k for k in ours if ours[k] != bundled[k]] == []


def test_sample_spans_a_complete_month_then_a_partial_one(sample: tuple[Path, dict]) -> None:
    """Like a nightly warehouse: all of February 2026, then March up to the 17th, across the
    2026-03-08 DST change."""
    _, summary = sample
    assert (summary["start"], summary["end"]) == ("2026-02-01", "2026-03-17")
    assert sum(summary["event_rows"].values()) < 120_000


def _active_seconds(root: Path) -> float:
    """EHR time of all clinicians together by SPEC 4's rule (gaps up to 300 s), categories aside."""
    by_clin: dict[str, set[dt.datetime]] = {}
    for clin, _f, t, _k in _instants(root):
        by_clin.setdefault(clin, set()).add(t)
    total = 0.0
    for times in by_clin.values():
        ts = sorted(times)
        total += sum(g for a, b in zip(ts, ts[1:], strict=False)
                     if (g := (b - a).total_seconds()) <= 300)
    return total


def _clinic_day_events(root: Path) -> list[int]:
    """Events of each clinician on each local date with an appointment starting."""
    zones = _zones(root)
    appts = {(r["clinician_id"], r["start_time"][:10])
             for p in (root / "reference" / "schedule").iterdir() for r in _read(p)
             if r["status"].lower() != "canceled"}
    counts = Counter()
    for clin, _f, t, _k in _instants(root):
        day = t.astimezone(ZoneInfo(zones.get(clin, NY))).date().isoformat()
        if (clin, day) in appts:
            counts[clin, day] += 1
    return sorted(counts.values())


def test_density_sets_the_events_not_the_ehr_time(tmp_path: Path) -> None:
    """events_per_clinician_day is how many events a clinic day logs (the benchmark's 1400 gives
    about 1400), while the EHR time they carry stays about the same."""
    kwargs = dict(clinicians=4, days=14, seed=5, start=dt.date(2026, 3, 2))
    time = {}
    for density in (250, 1400):
        root = tmp_path / str(density)
        generate_landing(root, events_per_clinician_day=density, **kwargs)
        per_day = _clinic_day_events(root)
        median = per_day[len(per_day) // 2]
        assert 0.8 * density < median < 1.25 * density, (density, median)
        time[density] = _active_seconds(root)
    assert 0.85 < time[1400] / time[250] < 1.15, time


def test_organisation_medians_fall_in_the_published_ranges(tmp_path: Path) -> None:
    """Calibration (docs/sample.md): a dozen clinicians over a complete month and a week of the
    next, another seed than the sample's, run through the pipeline: the organisation's medians
    of EHR-Time8, pajama time per scheduled day and the inbox and notes shares of EHR time fall
    in the published ranges, with heavy and light after-hours users around them."""
    from wow_metrics.pipeline import run

    landing = tmp_path / "landing"
    generate_landing(landing, clinicians=12, days=35, seed=21, start=dt.date(2026, 2, 1))
    run(landing, tmp_path / "warehouse")
    medians = org_medians(tmp_path / "warehouse")
    assert medians["n"] >= 20  # 12 clinicians x 2 months, nearly all eligible
    for name, (low, high) in PUBLISHED_RANGES.items():
        assert low <= medians[name] <= high, (name, medians[name], (low, high))

    import duckdb

    with duckdb.connect(str(tmp_path / "warehouse" / "wow.duckdb"), read_only=True) as con:
        pajama, ehr8 = zip(*con.execute(
            "select pajama_minutes_per_sched_day, ehr_time8 from ehr_time_by_clinician_period "
            "where period_start = DATE '2026-02-01' and scheduled_hours >= 8").fetchall(),
            strict=True)
    paj = medians["pajama_minutes_per_sched_day"]
    # Heavy and light after-hours users: several times apart, the heaviest well above the median.
    assert max(pajama) > 4 * min(pajama) and max(pajama) > 1.5 * paj
    assert max(ehr8) - min(ehr8) > 1.5  # hours per 8 scheduled hours
