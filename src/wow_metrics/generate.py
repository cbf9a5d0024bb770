"""Synthetic landing-zone generator (SPEC section 1): roster, schedule, holidays, audit extracts.

Besides the extracts it writes ``reference/category_map.csv`` with the site's rows for the
``canonical`` action names (the shipped map covers ``epic_access_log`` only).

Everything written is synthetic: clinician ids ``C0001``..., patient ids ``Z`` + digits, made-up
workstations. The output is a pure function of the arguments (one seeded numpy Generator, files
written in a fixed order, gzip with mtime 0 and no file name), so the same call gives
byte-identical files.

Shape of the data, per clinician (all times local wall-clock in the clinician's time zone):

- Clinic sessions on weekdays, morning 08:00/08:30-12:00 and afternoon 13:00-17:00, of 15-40 minute
  slots with a few overlapping double-bookings; a few percent canceled and no-show. Part-time
  clinicians have fewer sessions; a weekday without sessions is an admin day for a full-timer
  and often a day off for a part-timer; the org holiday and a few random leave days have none.
- Work comes in bursts, each a stretch of time with events spread over it: per visit chart review
  at the start, notes during, orders near the end; chart prep before clinic; inbox during
  sessions (often on a second workstation, i.e. concurrently) and at lunch; note finishing and
  inbox after clinic, some days past the end of the workday; evening "pajama time" (19:00-23:00)
  from home; early mornings (06:00) now and then; weekend/holiday inbox; admin-day work; a few
  bursts that run across local midnight. Gaps between a burst's events are mostly 5-90 s at the
  default density, now and then exactly 300 s, over 300 s (idle) or 0 s (a tie).
- ``events_per_clinician_day`` sets how many events a typical full clinic day logs (other days
  fewer), not how long the work takes: a denser extract logs the same stretches of work with
  more, closer events, so the EHR time it carries hardly depends on the density.
- Clinicians differ, and departments too: EHR load (family and internal medicine highest,
  pediatrics and cardiology lower), inbox volume, documentation style, and an after-hours style
  that sets how often and how long they chart in the evening and at weekends (a few heavy
  after-hours users, many light ones). These are drawn stratified, so even a clinic of a dozen
  has the whole range and a typical median.
- Calibrated (docs/sample.md) so that, through the pipeline's definitions, the organisation's
  medians fall in the published ranges: EHR time about 5.7 h per 8 scheduled hours, about 30
  minutes of pajama time per scheduled day, inbox about 20% and notes about a third of EHR time.
- Each clinician's events go to one extract format (about 2/3 ``epic_access_log``, 1/3
  ``canonical``), one file per night, named by the event's date in the default time zone (the EHR
  server's), rows shuffled, with a few exact duplicate rows inside a file and copied from the
  previous night's file.

Events are built with numpy, vectorised over all clinicians and a chunk of days at a time, and
written with polars, so tens of millions of rows are feasible.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import os
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

DEFAULT_TZ = "America/New_York"
# A Monday; 28 days from it (the default) cross the 2026-03-08 US DST change. The bundled sample
# (data/sample, `make sample`) starts on 2026-02-01 instead: a complete month, then a partial one.
DEFAULT_START = dt.date(2026, 2, 23)

EPIC_COLUMNS = [
    "USER_ID",
    "ACCESS_INSTANT",
    "ACCESS_TIME",
    "METRIC_ID",
    "METRIC_NAME",
    "REPORT_NAME",
    "PAT_ID",
    "WORKSTATION_ID",
    "PROCESS_ID",
    "CSN",
]
CANONICAL_COLUMNS = [
    "clinician_id",
    "event_time",
    "action",
    "category",
    "patient_id",
    "workstation_id",
]
ROSTER_COLUMNS = ["clinician_id", "department", "specialty", "role", "clinical_fte", "timezone"]
SCHEDULE_COLUMNS = ["clinician_id", "appointment_id", "start_time", "duration_minutes", "status"]
CATEGORY_MAP_COLUMNS = ["format", "action", "report_name", "category", "is_prescription"]
FORMATS = ("epic_access_log", "canonical")

CATEGORIES = ("inbox", "notes", "orders", "chart_review", "other", "exclude")
INBOX, NOTES, ORDERS, CHART, OTHER, EXCLUDE = range(6)

# category, Epic METRIC_NAME, METRIC_ID (made up), canonical action, weight within category,
# carries a patient. Epic names follow SPEC section 3; the two "other" names are deliberately
# absent from the shipped map.
_ACTIONS: tuple[tuple[int, str, int, str, float, bool], ...] = (
    (INBOX, "In Basket message viewed", 17001, "inbox_message_open", 5.0, True),
    (INBOX, "In Basket folder loaded", 17002, "inbox_folder_load", 2.0, False),
    (INBOX, "Communication Management accessed", 17003, "inbox_message_reply", 1.5, True),
    (INBOX, "Secure chat message sent", 17004, "secure_chat_send", 1.0, True),
    (NOTES, "Notes Entry accessed", 17101, "note_open", 2.0, True),
    (NOTES, "Save clinical note", 17102, "note_edit", 4.0, True),
    (NOTES, "Pend clinical note", 17103, "note_pend", 1.5, True),
    (NOTES, "Clinical Note Signed", 17104, "note_sign", 0.7, True),
    (ORDERS, "Order list changed", 17201, "order_entry", 3.0, True),
    (ORDERS, "Order sets accessed", 17202, "order_set_open", 1.0, True),
    (ORDERS, "Release Orders activity accessed", 17203, "order_release", 0.5, True),
    (ORDERS, "Order Reconciliation Section accessed", 17204, "med_reconciliation", 1.0, True),
    (ORDERS, "Medication order signed", 17205, "prescription_sign", 1.2, True),
    (CHART, "Results Review accessed", 17301, "results_view", 3.0, True),
    (CHART, "Report with patient data viewed", 17302, "chart_report_view", 3.0, True),
    (CHART, "Chart Review Note report viewed", 17303, "chart_open", 3.0, True),
    (CHART, "Notes viewed", 17304, "note_view", 2.0, True),
    (OTHER, "Patient Lists accessed", 17401, "patient_list_view", 2.0, False),
    (OTHER, "Schedule viewed", 17402, "schedule_view", 1.0, False),
    (EXCLUDE, "In Basket message created", 17501, "inbox_message_created", 1.0, True),
    (EXCLUDE, "Order transmitted", 17502, "order_transmitted", 1.0, True),
)
_PRESCRIBING = "Medication order signed"
_ACT_CAT = np.array([a[0] for a in _ACTIONS], dtype=np.int8)
_ACT_HAS_PATIENT = np.array([a[5] for a in _ACTIONS], dtype=bool)
_ACT_REPORT = _ACTIONS.index(next(a for a in _ACTIONS if a[1] == "Report with patient data viewed"))
_REPORT_NAMES: list[str | None] = [
    None,
    "Synopsis",
    "Problem List",
    "Medications",
    "Encounters",
    "Imaging",
]
# Per category: first action index and cumulative weights (padded past 1 so no draw reaches them).
_CAT_FIRST = np.array([int(np.flatnonzero(_ACT_CAT == c)[0]) for c in range(6)])
_CAT_SIZE = np.bincount(_ACT_CAT, minlength=6)
_CAT_CUM = np.full((6, 8), 2.0)
for _c in range(6):
    _w = np.array([a[4] for a in _ACTIONS if a[0] == _c])
    _CAT_CUM[_c, : len(_w)] = np.cumsum(_w) / _w.sum()
    _CAT_CUM[_c, len(_w) - 1] = 2.0
# Off-topic events inside a burst (20% of events) follow this category mix.
_BACKGROUND_CATS = np.array([0.22, 0.18, 0.12, 0.25, 0.13, 0.10])

_DEPARTMENTS = ("Family Medicine", "Internal Medicine", "Pediatrics", "Cardiology")
_DEPT_CODES = ("FM", "IM", "PED", "CARD")
# First 12 clinicians: FM 6, IM 3, PED 2, CARD 1 (the last, IM, has no roster row).
_DEPT_PATTERN = (0, 1, 0, 2, 0, 1, 3, 0, 2, 0, 0, 1)
_DEPT_WEIGHTS = np.array([0.45, 0.27, 0.17, 0.11])
_SPECIALTIES = (
    ("Family Medicine",),
    ("Internal Medicine", "Geriatrics"),
    ("Pediatrics",),
    ("Cardiology", "Electrophysiology"),
)
# Calibration (docs/sample.md: the organisation medians it gives and the published figures).
# Per department: EHR load and inbox volume relative to family medicine (Melnick 2021: cardiology
# and pediatrics spend less EHR time per 8 scheduled hours than primary care).
_DEPT_EHR = np.array([1.0, 1.05, 0.85, 0.8])
_DEPT_INBOX = np.array([1.0, 1.15, 0.75, 0.65])
_EVENING_LOGIT = 0.0  # the median clinician charts on half of weekday evenings after clinic
_WEEKEND_LOGIT = -0.7  # ... and on about a third of weekend days
# Shares of a clinic day's event budget N for the visits (all of a full day's visits) and the
# evening session (times the clinician's eve_size); the other shares are inline below.
_VISIT_SHARE = 0.70
_EVENING_SHARE = 0.14
_DEFAULT_EPCD = 250
_DAY_EVENTS = 0.88  # N per event of the density: the shares add up to ~1 / 0.88 on a full day
# How long a burst lasts per expected event at the default density (a denser extract: shorter
# in proportion), how far apart its gaps can be (longest / shortest) and their cap.
_MS_PER_EVENT = 59_000
_GAP_SPREAD = 40.0
_GAP_CAP_MS = 285_000
_SLOTS = ((20, 40, 0.15), (20, 40, 0.25), (15, 30, 0.25), (30, 40, 0.35))  # base, long, P(long)
_STATUSES = ("completed", "arrived", "scheduled", "no_show", "canceled")
_STATUS_P = np.array([0.885, 0.01, 0.01, 0.04, 0.055])
COMPLETED, ARRIVED, SCHEDULED, NO_SHOW, CANCELED = range(5)

_MS_MIN = 60_000
_MS_DAY = 86_400_000
_EPOCH = dt.date(1970, 1, 1)


@dataclass
class _Clinicians:
    ids: list[str]
    dept: np.ndarray
    specialty: list[str]
    role: list[str]
    fte: np.ndarray
    tz: list[str]  # roster value, "" = default
    tz_idx: np.ndarray  # index into zones (effective zone)
    zones: list[str]
    fmt: np.ndarray  # 0 epic_access_log, 1 canonical
    in_roster: np.ndarray
    ws: np.ndarray  # (n, 3) workstation index: clinic, second (concurrent), home/remote
    ws_names: list[str]
    intensity: np.ndarray  # EHR load: department x person (scales the day's events and time)
    inbox_load: np.ndarray  # inbox volume: department x person
    notes_load: np.ndarray  # documentation style
    p_evening: np.ndarray  # after-hours style: how often and how long in the evening
    eve_size: np.ndarray
    p_late: np.ndarray  # stays past the end of the workday (17:30) finishing the day
    p_early: np.ndarray
    p_weekend: np.ndarray
    slot_base: np.ndarray
    slot_long: np.ndarray
    p_long: np.ndarray
    am_start: np.ndarray  # minutes after midnight
    template: np.ndarray  # (n, 5, 2) weekday x (am, pm) sessions
    panel_base: np.ndarray


def _spread(rng: np.random.Generator, n: int) -> np.ndarray:
    """n scores with mean 0 and SD 1 (logistic), stratified: one in each 1/n probability band,
    jittered within it, in random order."""
    u = (rng.permutation(n) + rng.uniform(0.05, 0.95, size=n)) / n
    return np.log(u / (1.0 - u)) * (np.sqrt(3.0) / np.pi)


def _make_clinicians(rng: np.random.Generator, n: int) -> _Clinicians:
    ids = [f"C{i + 1:04d}" for i in range(n)]
    dept = np.array(
        [_DEPT_PATTERN[i] if i < len(_DEPT_PATTERN) else -1 for i in range(n)], dtype=np.int64
    )
    extra = dept < 0
    dept[extra] = rng.choice(4, size=int(extra.sum()), p=_DEPT_WEIGHTS)
    spec_pick = rng.random(n)
    specialty = [
        _SPECIALTIES[d][1] if len(_SPECIALTIES[d]) > 1 and u < 0.25 else _SPECIALTIES[d][0]
        for d, u in zip(dept, spec_pick, strict=True)
    ]
    is_app = rng.random(n) < 0.25
    role = ["APP" if a else "physician" for a in is_app]
    fte = rng.choice(
        np.array([0.5, 0.6, 0.7, 0.8, 0.9, 1.0]), size=n, p=[0.12, 0.12, 0.12, 0.22, 0.17, 0.25]
    )
    fte = np.where(is_app & (rng.random(n) < 0.6), 1.0, fte)

    # One clinician with events but no roster row (the last), only when there are >= 5.
    in_roster = np.ones(n, dtype=bool)
    if n >= 5:
        in_roster[-1] = False
    roster_idx = np.flatnonzero(in_roster)
    tz = [""] * n
    order = rng.permutation(roster_idx)
    n_la = 0 if n < 3 else (2 if n >= 20 else 1)
    n_chi = int(round(0.2 * len(roster_idx))) if n >= 3 else 0
    for i in order[:n_la]:
        tz[i] = "America/Los_Angeles"
    for i in order[n_la : n_la + n_chi]:
        tz[i] = "America/Chicago"
    zones = [DEFAULT_TZ, "America/Chicago", "America/Los_Angeles"]
    tz_idx = np.array([zones.index(z or DEFAULT_TZ) for z in tz], dtype=np.int64)

    fmt = np.zeros(n, dtype=np.int64)
    if n >= 2:
        n_canon = max(1, int(round(n / 3)))
        fmt[rng.permutation(n)[:n_canon]] = 1

    # Workstations: 1-3 per clinician, named per department; the third (if any) is used remotely.
    n_ws = rng.choice(np.array([1, 2, 3]), size=n, p=[0.3, 0.45, 0.25])
    counters = [0, 0, 0, 0]
    ws_names: list[str] = []
    ws = np.zeros((n, 3), dtype=np.int64)
    for i in range(n):
        own = []
        for _ in range(int(n_ws[i])):
            counters[dept[i]] += 1
            own.append(len(ws_names))
            ws_names.append(f"WS-{_DEPT_CODES[dept[i]]}-{counters[dept[i]]}")
        ws[i] = [own[0], own[min(1, len(own) - 1)], own[-1]]

    slot = np.array([_SLOTS[d] for d in dept])
    # Weekly template: about 9 half-day sessions per 1.0 FTE; unfilled weekdays are admin days.
    template = np.zeros((n, 5, 2), dtype=bool)
    for i in range(n):
        k = int(np.clip(round(fte[i] * 9 + rng.normal(0, 0.4)), 3, 10))
        days = rng.permutation(5)
        half = rng.integers(0, 2)
        for j, wd in enumerate(days):
            left = k - 2 * j
            if left >= 2:
                template[i, wd, :] = True
            elif left == 1:
                template[i, wd, half] = True

    # How each clinician works. EHR and inbox load differ by department (primary care highest,
    # cardiology and pediatrics lower, as in Melnick 2021) and by person. One latent after-hours
    # propensity drives how often and how long a clinician charts in the evening and on
    # weekends, so pajama time is right-skewed: a few heavy after-hours users, many light ones.
    # Each score is drawn stratified (one clinician per 1/n quantile band, in random order), so a
    # small clinic still has the whole range and its median clinician is typical.
    intensity = _DEPT_EHR[dept] * np.exp(0.15 * _spread(rng, n))
    inbox_load = _DEPT_INBOX[dept] * np.exp(0.25 * _spread(rng, n))
    notes_load = np.exp(0.2 * _spread(rng, n))
    after_hours = _spread(rng, n)
    p_evening = 1.0 / (1.0 + np.exp(-(_EVENING_LOGIT + 1.2 * after_hours)))
    eve_size = np.exp(0.3 * after_hours + rng.normal(0.0, 0.2, size=n))
    p_late = rng.uniform(0.15, 0.65, size=n)
    p_early = rng.uniform(0.02, 0.15, size=n)
    p_weekend = 1.0 / (
        1.0 + np.exp(-(_WEEKEND_LOGIT + 1.0 * after_hours + rng.normal(0.0, 0.5, size=n)))
    )
    return _Clinicians(
        ids=ids,
        dept=dept,
        specialty=specialty,
        role=role,
        fte=fte,
        tz=tz,
        tz_idx=tz_idx,
        zones=zones,
        fmt=fmt,
        in_roster=in_roster,
        ws=ws,
        ws_names=ws_names,
        intensity=intensity,
        inbox_load=inbox_load,
        notes_load=notes_load,
        p_evening=p_evening,
        eve_size=eve_size,
        p_late=p_late,
        p_early=p_early,
        p_weekend=p_weekend,
        slot_base=slot[:, 0].astype(np.int64),
        slot_long=slot[:, 1].astype(np.int64),
        p_long=slot[:, 2],
        am_start=np.where(rng.random(n) < 0.25, 510, 480),
        template=template,
        panel_base=rng.integers(1_000_000, 9_000_000, size=n),
    )


def _us_holidays(year: int) -> list[tuple[dt.date, str]]:
    def nth_weekday(month: int, weekday: int, nth: int) -> dt.date:
        d = dt.date(year, month, 1)
        d += dt.timedelta(days=(weekday - d.weekday()) % 7)
        return d + dt.timedelta(weeks=nth - 1)

    def last_weekday(month: int, weekday: int) -> dt.date:
        d = dt.date(year + (month == 12), month % 12 + 1, 1) - dt.timedelta(days=1)
        return d - dt.timedelta(days=(d.weekday() - weekday) % 7)

    def observed(d: dt.date) -> dt.date:
        return (
            d - dt.timedelta(days=1)
            if d.weekday() == 5
            else (d + dt.timedelta(days=1) if d.weekday() == 6 else d)
        )

    return [
        (observed(dt.date(year, 1, 1)), "New Year's Day"),
        (last_weekday(5, 0), "Memorial Day"),
        (observed(dt.date(year, 7, 4)), "Independence Day"),
        (nth_weekday(9, 0, 1), "Labor Day"),
        (nth_weekday(11, 3, 4), "Thanksgiving Day"),
        (observed(dt.date(year, 12, 25)), "Christmas Day"),
    ]


def _holidays(start: dt.date, days: int) -> list[tuple[dt.date, str]]:
    """The org calendar for the years covered, plus one synthetic wellness day inside the range."""
    end = start + dt.timedelta(days=days - 1)
    rows = [h for y in range(start.year, end.year + 1) for h in _us_holidays(y)]
    taken = {d for d, _ in rows}
    wellness = start + dt.timedelta(days=17 if days > 17 else days // 2)
    while wellness <= end and (wellness.weekday() >= 5 or wellness in taken):
        wellness += dt.timedelta(days=1)
    if wellness <= end:
        rows.append((wellness, "Org wellness day"))
    return sorted(rows)


def _local_to_utc_ms(local_ms: np.ndarray, zone_idx: np.ndarray, zones: list[str]) -> np.ndarray:
    """Local wall-clock epoch ms -> UTC epoch ms, per zone (earliest instant in a repeated hour,
    a time in the spring-forward gap is moved an hour later)."""
    out = np.empty_like(local_ms)
    for z, zone in enumerate(zones):
        mask = zone_idx == z
        if not mask.any():
            continue
        vals = local_ms[mask]

        def conv(v: np.ndarray, zone: str = zone) -> pl.Series:
            return (
                pl.Series(v, dtype=pl.Int64)
                .cast(pl.Datetime("ms"))
                .dt.replace_time_zone(zone, ambiguous="earliest", non_existent="null")
                .cast(pl.Int64)
            )

        res = conv(vals)
        if res.null_count():
            res = res.fill_null(conv(vals + 3_600_000))
        out[mask] = res.to_numpy()
    return out


def _utc_offset_ms(utc_ms: np.ndarray, zone_idx: np.ndarray, zones: list[str]) -> np.ndarray:
    """Per instant, the UTC offset (ms) of the given zone."""
    out = np.zeros(len(utc_ms), dtype=np.int64)
    for z, zone in enumerate(zones):
        mask = zone_idx == z
        if not mask.any():
            continue
        local = (
            pl.Series(utc_ms[mask], dtype=pl.Int64)
            .cast(pl.Datetime("ms", "UTC"))
            .dt.convert_time_zone(zone)
            .dt.replace_time_zone(None)
            .cast(pl.Int64)
            .to_numpy()
        )
        out[mask] = local - utc_ms[mask]
    return out


@dataclass
class _Schedule:
    clin: np.ndarray
    day: np.ndarray
    start_min: np.ndarray
    dur: np.ndarray
    status: np.ndarray
    patient: np.ndarray
    csn: np.ndarray
    # per (clinician, day)
    n_sessions: np.ndarray
    first_start: np.ndarray
    last_end: np.ndarray
    has_am: np.ndarray
    has_pm: np.ndarray
    # sessions
    s_clin: np.ndarray
    s_day: np.ndarray
    s_start: np.ndarray
    s_end: np.ndarray


def _make_schedule(
    rng: np.random.Generator, cl: _Clinicians, weekday: np.ndarray, is_holiday: np.ndarray
) -> _Schedule:
    n_c, n_d = len(cl.ids), len(weekday)
    workday = (weekday < 5) & ~is_holiday
    sess = np.zeros((n_d, n_c, 2), dtype=bool)
    wd = np.minimum(weekday, 4)
    sess[:] = np.transpose(cl.template[:, wd, :], (1, 0, 2))
    sess &= workday[:, None, None]
    sess &= ~(rng.random((n_d, n_c)) < 0.03)[:, :, None]  # leave / admin day
    sess &= ~(rng.random((n_d, n_c, 2)) < 0.02)  # a dropped half-day
    s_day, s_clin, s_half = np.nonzero(sess)  # ordered by day, clinician, am/pm
    s_start = np.where(s_half == 0, cl.am_start[s_clin], 780)
    s_end = np.where(s_half == 0, 720, 1020)

    k = 16
    ns = len(s_day)
    long = rng.random((ns, k)) < cl.p_long[s_clin][:, None]
    length = np.where(long, cl.slot_long[s_clin][:, None], cl.slot_base[s_clin][:, None])
    offset = np.cumsum(length, axis=1) - length
    keep = s_start[:, None] + offset + length <= s_end[:, None]
    si, sj = np.nonzero(keep)
    a_clin, a_day = s_clin[si], s_day[si]
    a_start = s_start[si] + offset[si, sj]
    a_dur = length[si, sj]
    a_extra = np.zeros(len(si), dtype=bool)
    # Double-bookings: an overlapping extra appointment at or just after a slot's start.
    dbl = np.flatnonzero(rng.random(len(si)) < 0.04)
    a_clin = np.concatenate([a_clin, a_clin[dbl]])
    a_day = np.concatenate([a_day, a_day[dbl]])
    a_start = np.concatenate([a_start, a_start[dbl] + rng.choice(np.array([0, 5, 10]), len(dbl))])
    a_dur = np.concatenate([a_dur, rng.choice(np.array([15, 20]), len(dbl))])
    a_extra = np.concatenate([a_extra, np.ones(len(dbl), dtype=bool)])
    order = np.lexsort((a_extra, a_start, a_clin, a_day))
    a_clin, a_day, a_start, a_dur = a_clin[order], a_day[order], a_start[order], a_dur[order]
    na = len(order)
    status = rng.choice(5, size=na, p=_STATUS_P)
    patient = cl.panel_base[a_clin] + rng.integers(0, 2500, size=na)
    csn = 700_000_000 + np.arange(na) * 13 + rng.integers(0, 13, size=na)

    n_sessions = np.zeros((n_c, n_d), dtype=np.int64)
    np.add.at(n_sessions, (s_clin, s_day), 1)
    first_start = np.full((n_c, n_d), 10_000, dtype=np.int64)
    np.minimum.at(first_start, (s_clin, s_day), s_start)
    last_end = np.zeros((n_c, n_d), dtype=np.int64)
    np.maximum.at(last_end, (s_clin, s_day), s_end)
    has_am = np.zeros((n_c, n_d), dtype=bool)
    has_am[s_clin[s_half == 0], s_day[s_half == 0]] = True
    has_pm = np.zeros((n_c, n_d), dtype=bool)
    has_pm[s_clin[s_half == 1], s_day[s_half == 1]] = True
    return _Schedule(
        clin=a_clin,
        day=a_day,
        start_min=a_start,
        dur=a_dur,
        status=status,
        patient=patient,
        csn=csn,
        n_sessions=n_sessions,
        first_start=first_start,
        last_end=last_end,
        has_am=has_am,
        has_pm=has_pm,
        s_clin=s_clin,
        s_day=s_day,
        s_start=s_start,
        s_end=s_end,
    )


class _Bursts:
    """Accumulates bursts of work: clinician, local start (ms), events, expected events,
    category, workstation, patient, csn. A burst's event count is drawn here: ``fixed`` plus a
    Poisson count of mean ``mean``; its expected count (fixed + mean) sets how long it lasts."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.parts: list[tuple[np.ndarray, ...]] = []

    def add(self, clin, local_ms, mean, cat, ws, patient=None, csn=None, fixed=0) -> None:
        m = len(clin)
        if m == 0:
            return
        mean = np.broadcast_to(np.maximum(np.asarray(mean, dtype=np.float64), 0.0), (m,))
        fixed = np.broadcast_to(np.asarray(fixed, dtype=np.int64), (m,))
        full = np.full(m, -1, dtype=np.int64)
        self.parts.append(
            (
                clin.astype(np.int64),
                local_ms.astype(np.int64),
                fixed + self.rng.poisson(mean),
                fixed + mean,
                np.broadcast_to(np.asarray(cat, dtype=np.int64), (m,)),
                ws.astype(np.int64),
                full if patient is None else patient.astype(np.int64),
                full if csn is None else csn.astype(np.int64),
            )
        )

    def arrays(self) -> tuple[np.ndarray, ...]:
        if not self.parts:
            return tuple(np.zeros(0, dtype=np.int64) for _ in range(8))
        return tuple(np.concatenate(col) for col in zip(*self.parts, strict=True))


def _events_chunk(
    rng: np.random.Generator,
    cl: _Clinicians,
    sc: _Schedule,
    day0_ms: np.ndarray,
    weekday: np.ndarray,
    is_holiday: np.ndarray,
    lo: int,
    hi: int,
    epcd: int,
) -> dict[str, np.ndarray]:
    """Raw events of local days [lo, hi) for all clinicians."""
    n_c = len(cl.ids)
    b = _Bursts(rng)
    dd, cc = np.meshgrid(np.arange(lo, hi), np.arange(n_c), indexing="ij")
    dd, cc = dd.ravel(), cc.ravel()
    m = len(dd)
    base = day0_ms[dd]
    # N: this clinician-day's event budget. The bursts below are shares of it, and add up to
    # about N / _DAY_EVENTS on a typical full clinic day (two sessions, an average evening): a
    # typical clinic day logs about epcd events, other days fewer.
    N = _DAY_EVENTS * epcd * cl.intensity[cc] * rng.lognormal(0.0, 0.15, size=m)
    inbox = N * cl.inbox_load[cc]
    notes = N * cl.notes_load[cc]
    clinic = sc.n_sessions[cc, dd] > 0
    wkday = (weekday[dd] < 5) & ~is_holiday[dd]
    off = ~wkday
    admin = wkday & ~clinic
    ws0, ws2 = cl.ws[cc, 0], cl.ws[cc, 2]

    def minutes(lo_min, hi_min, size):
        return (rng.uniform(lo_min, hi_min, size) * _MS_MIN).astype(np.int64)

    # Visits: chart review at the start, notes during, orders near the end.
    a0, a1 = np.searchsorted(sc.day, [lo, hi])
    ac, ad = sc.clin[a0:a1], sc.day[a0:a1]
    ast, adur, ass = sc.start_min[a0:a1], sc.dur[a0:a1], sc.status[a0:a1]
    apat, acsn = sc.patient[a0:a1], sc.csn[a0:a1]
    seen = (ass != CANCELED) & (ass != NO_SHOW)
    visits = np.zeros((n_c, len(weekday)), dtype=np.int64)
    np.add.at(visits, (ac[seen], ad[seen]), 1)
    n_grid = np.zeros((n_c, len(weekday)))
    n_grid[cc, dd] = N
    in_grid = np.zeros((n_c, len(weekday)))
    in_grid[cc, dd] = inbox
    # Visit work is per visit: a full day's visits share _VISIT_SHARE of N, a half day's half.
    half_days = sc.n_sessions[ac, ad] / 2
    per_visit = _VISIT_SHARE * n_grid[ac, ad] * half_days / np.maximum(visits[ac, ad], 1)
    notes_style = cl.notes_load[ac]
    a_ms = day0_ms[ad] + ast * _MS_MIN
    dur_ms = adur * _MS_MIN
    k = np.flatnonzero(seen | ((ass == NO_SHOW) & (rng.random(len(ac)) < 0.5)))
    b.add(
        ac[k],
        a_ms[k] - minutes(0, 6, len(k)),
        0.40 * per_visit[k] - 1,
        CHART,
        cl.ws[ac[k], 0],
        apat[k],
        acsn[k],
        fixed=per_visit[k] > 0,
    )
    k = np.flatnonzero(seen)
    b.add(
        ac[k],
        a_ms[k] + (rng.uniform(0.2, 0.55, len(k)) * dur_ms[k]).astype(np.int64),
        0.35 * notes_style[k] * per_visit[k],
        NOTES,
        cl.ws[ac[k], 0],
        apat[k],
        acsn[k],
    )
    k = np.flatnonzero(seen & (rng.random(len(ac)) < 0.85))
    b.add(
        ac[k],
        a_ms[k] + (rng.uniform(0.6, 0.95, len(k)) * dur_ms[k]).astype(np.int64),
        0.30 / 0.85 * per_visit[k],
        ORDERS,
        cl.ws[ac[k], 0],
        apat[k],
        acsn[k],
    )

    # Inbox during each session, often on a second workstation (concurrent with the visit).
    s0, s1 = np.searchsorted(sc.s_day, [lo, hi])
    sclin, sday = np.repeat(sc.s_clin[s0:s1], 2), np.repeat(sc.s_day[s0:s1], 2)
    sst, sen = np.repeat(sc.s_start[s0:s1], 2), np.repeat(sc.s_end[s0:s1], 2)
    ns = len(sclin)
    b.add(
        sclin,
        day0_ms[sday] + (rng.uniform(sst, sen, ns) * _MS_MIN).astype(np.int64),
        0.027 * in_grid[sclin, sday],
        INBOX,
        np.where(rng.random(ns) < 0.6, cl.ws[sclin, 1], cl.ws[sclin, 0]),
    )

    first, last = sc.first_start[cc, dd], sc.last_end[cc, dd]
    # Chart prep before clinic.
    k = np.flatnonzero(clinic & (rng.random(m) < 0.85))
    b.add(
        cc[k],
        base[k] + first[k] * _MS_MIN - minutes(20, 50, len(k)),
        0.06 * N[k],
        CHART,
        ws0[k],
    )
    # Lunchtime: inbox, then a note or two.
    k = np.flatnonzero(sc.has_am[cc, dd] & sc.has_pm[cc, dd] & (rng.random(m) < 0.75))
    b.add(cc[k], base[k] + 720 * _MS_MIN + minutes(2, 20, len(k)), 0.045 * inbox[k], INBOX, ws0[k])
    b.add(cc[k], base[k] + 720 * _MS_MIN + minutes(25, 40, len(k)), 0.03 * notes[k], NOTES, ws0[k])
    # After clinic: finishing notes, then inbox; some stay past the end of the workday.
    k = np.flatnonzero(clinic)
    b.add(
        cc[k],
        base[k] + last[k] * _MS_MIN + minutes(0, 10, len(k)),
        0.06 * notes[k],
        NOTES,
        ws0[k],
    )
    b.add(
        cc[k],
        base[k] + last[k] * _MS_MIN + minutes(15, 30, len(k)),
        0.035 * inbox[k],
        INBOX,
        ws0[k],
    )
    k = np.flatnonzero(clinic & (rng.random(m) < cl.p_late[cc]))
    b.add(
        cc[k],
        base[k] + last[k] * _MS_MIN + minutes(35, 70, len(k)),
        0.045 * N[k],
        np.where(rng.random(len(k)) < 0.5, NOTES, INBOX),
        ws0[k],
    )
    # Evening "pajama time" on weekdays, from home: how often and how long is the clinician's
    # after-hours style.
    p_eve = cl.p_evening[cc] * np.where(clinic, 1.0, 0.4)
    k = np.flatnonzero(wkday & (rng.random(m) < p_eve))
    b.add(
        cc[k],
        base[k] + minutes(19 * 60, 22 * 60, len(k)),
        _EVENING_SHARE * cl.eve_size[cc[k]] * N[k],
        np.where(rng.random(len(k)) < 0.5, NOTES, INBOX),
        ws2[k],
    )
    # Early morning inbox.
    k = np.flatnonzero(wkday & (rng.random(m) < cl.p_early[cc]))
    b.add(cc[k], base[k] + minutes(6 * 60, 6 * 60 + 40, len(k)), 0.03 * inbox[k], INBOX, ws2[k])
    # Weekdays without clinic: for a full-time clinician an admin day (a few working blocks);
    # for a part-timer often a day off, or a lighter catch-up.
    full_time = cl.fte[cc] >= 0.9
    k = np.flatnonzero(admin & (rng.random(m) < np.where(full_time, 0.85, 0.5)))
    k = np.repeat(k, np.where(full_time[k], 4, 2))
    b.add(
        cc[k],
        base[k] + minutes(9 * 60, 16 * 60, len(k)),
        0.09 * N[k],
        rng.choice(np.array([INBOX, NOTES, CHART, ORDERS]), len(k), p=[0.4, 0.3, 0.2, 0.1]),
        ws0[k],
    )
    # Weekends and holidays: inbox from home, on the clinician's share of such days.
    k = np.flatnonzero(off & (rng.random(m) < cl.p_weekend[cc]))
    k = np.concatenate([k, k[rng.random(len(k)) < 0.4]])
    b.add(
        cc[k],
        base[k] + minutes(8 * 60, 21 * 60, len(k)),
        0.05 * cl.eve_size[cc[k]] * inbox[k],
        np.where(rng.random(len(k)) < 0.75, INBOX, NOTES),
        ws2[k],
    )
    # Now and then a burst that runs across local midnight.
    k = np.flatnonzero(rng.random(m) < 0.03)
    b.add(
        cc[k],
        base[k] + minutes(23 * 60 + 52, 23 * 60 + 58, len(k)),
        0.04 * N[k],
        np.where(rng.random(len(k)) < 0.5, NOTES, INBOX),
        ws2[k],
        fixed=np.where(N[k] > 0, 6, 0),
    )

    bc, blocal, bn, bmean, bcat, bws, bpat, bcsn = b.arrays()
    keep = bn > 0
    bc, blocal, bn, bmean, bcat, bws, bpat, bcsn = (
        x[keep] for x in (bc, blocal, bn, bmean, bcat, bws, bpat, bcsn)
    )
    butc = _local_to_utc_ms(blocal, cl.tz_idx[bc], cl.zones)
    nb = len(bc)
    bpid = rng.integers(1000, 99_999, size=nb)

    # Expand bursts into events. A burst is a stretch of work: it lasts its expected events x
    # _MS_PER_EVENT at the default density, jittered, and a denser extract (e.g. 1400 events on
    # a clinic day) logs the same stretch in proportionally more, closer events, so EHR time does
    # not depend on the density. Its events are spread over it with gaps up to _GAP_SPREAD times
    # apart (at the default density mostly 5-90 s, some a few minutes). Now and then a gap is
    # exactly 300 s (the idle threshold) or longer (idle), at the same rate per day whatever the
    # density (down to 1/4 of the default), or 0 s (a tie), at a fixed share of events.
    scale = _DEFAULT_EPCD / max(epcd, 1)
    per_day = min(scale, 4.0)
    length = bmean * (_MS_PER_EVENT * scale) * rng.lognormal(0.0, 0.3, size=nb)
    # The n - 1 gaps inside a burst of n events cover it whole (the last event's own time runs
    # into whatever comes next), so few-event bursts are not shorter than many-event ones.
    length *= bn / np.maximum(bn - 1, 1)
    bidx = np.repeat(np.arange(nb), bn)
    first_ev = np.cumsum(bn) - bn
    n = len(bidx)
    w = np.exp(rng.uniform(0.0, np.log(_GAP_SPREAD), size=n))
    w[first_ev] = 0.0
    w_sum = np.bincount(bidx, weights=w, minlength=nb)
    # Capped just under the idle threshold: a sparse burst is not cut into idle pieces.
    gaps = np.minimum(w * (length / np.maximum(w_sum, 1e-9))[bidx], _GAP_CAP_MS).astype(np.int64)
    u = rng.random(n)
    p300, p_idle, p_tie = 0.004 * per_day, 0.008 * per_day, 0.003
    gaps = np.where(u < p300, 300_000, gaps)
    gaps = np.where((u >= p300) & (u < p300 + p_idle), rng.integers(301_000, 1_500_000, n), gaps)
    gaps = np.where((u >= p300 + p_idle) & (u < p300 + p_idle + p_tie), 0, gaps)
    gaps[first_ev] = 0
    # Ties (two events at one instant) come in pairs at most.
    tie = gaps == 0
    tie[first_ev] = False
    triple = np.flatnonzero(tie[1:] & tie[:-1]) + 1
    gaps[triple] = 1000
    tie[triple] = False
    cs = np.cumsum(gaps)
    t = butc[bidx] + cs - cs[first_ev][bidx]

    clin = bc[bidx]
    cat = np.where(rng.random(n) < 0.8, bcat[bidx], rng.choice(6, size=n, p=_BACKGROUND_CATS))
    within = (rng.random(n)[:, None] >= _CAT_CUM[cat]).sum(axis=1)
    # Events at the same instant as the previous one are a different action (no accidental
    # duplicates: the duplicates in the output are the deliberate ones).
    same = np.flatnonzero(tie)
    same = same[
        _CAT_FIRST[cat[same]] + within[same] == _CAT_FIRST[cat[same - 1]] + within[same - 1]
    ]
    within[same] = (within[same] + 1) % _CAT_SIZE[cat[same]]
    act = _CAT_FIRST[cat] + within

    # Patients: the visit's patient; elsewhere runs of a few events per patient (one message).
    change = rng.random(n) < 0.3
    change[first_ev] = True
    run = np.cumsum(change) - 1
    n_runs = int(run[-1]) + 1 if n else 0
    run_pat = cl.panel_base[clin] + rng.integers(0, 2500, size=n_runs)[run]
    run_csn = 800_000_000 + rng.integers(0, 99_999_999, size=n_runs)[run]
    pat = np.where(bpat[bidx] >= 0, bpat[bidx], run_pat)
    csn = np.where(bcsn[bidx] >= 0, bcsn[bidx], run_csn)
    no_pat = ~_ACT_HAS_PATIENT[act]
    pat[no_pat] = -1
    csn[no_pat] = -1
    report = np.where(act == _ACT_REPORT, rng.integers(0, len(_REPORT_NAMES), size=n), 0)

    ny_off = _utc_offset_ms(t, np.zeros(n, dtype=np.int64), cl.zones)
    return {
        "clin": clin,
        "t": t,
        "act": act,
        "pat": pat,
        "csn": csn,
        "ws": bws[bidx],
        "pid": bpid[bidx],
        "report": report,
        "ny_off": ny_off,
        "local_off": _utc_offset_ms(t, cl.tz_idx[clin], cl.zones),
        "no_instant": rng.random(n) < 0.02,
        "cat_filled": (rng.random(n) < 0.5) & (_ACT_CAT[act] != EXCLUDE),
        "zulu": rng.random(n) < 0.1,
        "fmt": cl.fmt[clin],
        "night": (t + ny_off) // _MS_DAY,
    }


Events = dict[str, np.ndarray]


def _gather(names: list[str] | list[str | None], idx: np.ndarray) -> pl.Series:
    return pl.Series(names, dtype=pl.String).gather(idx)


def _ts(ms: np.ndarray, fmt: str) -> pl.Series:
    return pl.Series(ms, dtype=pl.Int64).cast(pl.Datetime("ms")).dt.strftime(fmt)


def _where(mask: np.ndarray, values: pl.Series) -> pl.Series:
    """values where mask, else null (written as an empty field)."""
    return pl.select(pl.when(pl.Series(mask, dtype=pl.Boolean)).then(values)).to_series()


def _ids(prefix: str, num: np.ndarray, width: int) -> pl.Series:
    """prefix + zero-padded number; null where num < 0."""
    s = pl.Series(num, dtype=pl.Int64)
    return _where(num >= 0, prefix + s.cast(pl.String).str.zfill(width))


def _format_epic(ev: Events, cl: _Clinicians) -> pl.DataFrame:
    t, act = ev["t"], ev["act"]
    return pl.DataFrame(
        {
            "USER_ID": _gather(cl.ids, ev["clin"]),
            "ACCESS_INSTANT": _where(~ev["no_instant"], _ts(t, "%Y-%m-%d %H:%M:%S%.6f")),
            "ACCESS_TIME": _ts(t + ev["ny_off"], "%Y-%m-%d %H:%M:%S%.6f"),
            "METRIC_ID": pl.Series([a[2] for a in _ACTIONS], dtype=pl.Int64).gather(act),
            "METRIC_NAME": _gather([a[1] for a in _ACTIONS], act),
            "REPORT_NAME": _gather(_REPORT_NAMES, ev["report"]),
            "PAT_ID": _ids("Z", ev["pat"], 7),
            "WORKSTATION_ID": _gather(cl.ws_names, ev["ws"]),
            "PROCESS_ID": pl.Series(ev["pid"], dtype=pl.Int64),
            "CSN": _where(ev["csn"] >= 0, pl.Series(ev["csn"], dtype=pl.Int64)),
        }
    )


# "Z", then "+00:00" .. "+14:45", then "-00:00" .. "-14:45" in 15-minute steps.
_OFFSET_SUFFIX = ["Z"] + [
    f"{sign}{h:02d}:{m:02d}" for sign in "+-" for h in range(15) for m in (0, 15, 30, 45)
]


def _format_canonical(ev: Events, cl: _Clinicians) -> pl.DataFrame:
    t, act, zulu = ev["t"], ev["act"], ev["zulu"]
    off = np.where(zulu, 0, ev["local_off"])
    mins = np.abs(off) // _MS_MIN
    suffix = np.where(zulu, 0, 1 + (off < 0) * 60 + (mins // 60) * 4 + (mins % 60) // 15)
    return pl.DataFrame(
        {
            "clinician_id": _gather(cl.ids, ev["clin"]),
            "event_time": _ts(t + off, "%Y-%m-%dT%H:%M:%S%.6f") + _gather(_OFFSET_SUFFIX, suffix),
            "action": _gather([a[3] for a in _ACTIONS], act),
            "category": _where(
                ev["cat_filled"], _gather(list(CATEGORIES), _ACT_CAT[act].astype(np.int64))
            ),
            "patient_id": _ids("Z", ev["pat"], 7),
            "workstation_id": _gather(cl.ws_names, ev["ws"]),
        }
    )


def _write_csv_rows(path: Path, columns: list[str], rows: list[list[object]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(rows)
    path.write_bytes(buf.getvalue().encode("utf-8"))


def _night_file(
    out: Path, fmt: str, night: dt.date, ev: Events, cl: _Clinicians, gzip_epic: bool
) -> tuple[Path, bytes, bool]:
    """Path, CSV bytes and whether to gzip them, for one night's extract."""
    folder = out / "audit" / fmt / f"{night:%Y}" / f"{night:%m}"
    if fmt == "epic_access_log":
        data = _format_epic(ev, cl).write_csv().encode("utf-8")
        name = f"access_log_{night.isoformat()}.csv" + (".gz" if gzip_epic else "")
        return folder / name, data, gzip_epic
    data = _format_canonical(ev, cl).write_csv().encode("utf-8")
    return folder / f"events_{night.isoformat()}.csv", data, False


def _store(path: Path, data: bytes, compress: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # mtime=0 and no file name in the header: the same content gives the same bytes.
    path.write_bytes(gzip.compress(data, compresslevel=6, mtime=0) if compress else data)


def _take(ev: Events, idx: np.ndarray | slice) -> Events:
    return {k: v[idx] for k, v in ev.items()}


def generate_landing(
    out: Path,
    clinicians: int = 12,
    days: int = 28,
    seed: int = 7,
    start: dt.date | None = None,
    events_per_clinician_day: int = _DEFAULT_EPCD,
    gzip_epic: bool = True,
) -> dict:
    """Write a synthetic SPEC-shaped landing zone under ``out`` and return a summary.

    ``events_per_clinician_day`` is the typical number of events of a clinician on a clinic day
    (other days have fewer). Files already under ``out`` that this call does not write are left
    alone. The summary holds the files written, event rows written per format (duplicates
    included), the duplicate rows among them, appointments and clinicians.
    """
    if clinicians < 1 or days < 1 or events_per_clinician_day < 0:
        raise ValueError("clinicians and days must be >= 1, events_per_clinician_day >= 0")
    out = Path(out)
    start = DEFAULT_START if start is None else start
    rng = np.random.default_rng(seed)
    dates = [start + dt.timedelta(days=i) for i in range(days)]
    day0_ms = np.array([(d - _EPOCH).days * _MS_DAY for d in dates], dtype=np.int64)
    weekday = np.array([d.weekday() for d in dates], dtype=np.int64)
    holidays = _holidays(start, days)
    holiday_set = {d for d, _ in holidays}
    is_holiday = np.array([d in holiday_set for d in dates], dtype=bool)

    cl = _make_clinicians(rng, clinicians)
    sc = _make_schedule(rng, cl, weekday, is_holiday)

    # wow.yaml and reference files.
    out.mkdir(parents=True, exist_ok=True)
    (out / "wow.yaml").write_text(
        "# Synthetic landing zone written by wow_metrics.generate; every other key defaults.\n"
        f"default_timezone: {DEFAULT_TZ}\n",
        encoding="utf-8",
    )
    ref = out / "reference"
    roster_rows = [
        [
            cl.ids[i],
            _DEPARTMENTS[cl.dept[i]],
            cl.specialty[i],
            cl.role[i],
            f"{cl.fte[i]:.1f}",
            cl.tz[i],
        ]
        for i in range(clinicians)
        if cl.in_roster[i]
    ]
    _write_csv_rows(ref / "roster.csv", ROSTER_COLUMNS, roster_rows)
    _write_csv_rows(
        ref / "holidays.csv", ["date", "name"], [[d.isoformat(), name] for d, name in holidays]
    )
    # The site's map for its canonical extract's action names (SPEC 3: landing-zone rows extend
    # the shipped map, which covers epic_access_log only); the "other" actions stay unmapped.
    _write_csv_rows(
        ref / "category_map.csv",
        CATEGORY_MAP_COLUMNS,
        [
            ["canonical", a[3], "", CATEGORIES[a[0]], "true" if a[1] == _PRESCRIBING else "false"]
            for a in _ACTIONS
            if a[0] != OTHER
        ],
    )
    files = 4

    # Schedule: one file per calendar month of the appointments' local start dates.
    case = rng.choice(3, size=len(sc.clin), p=[0.85, 0.12, 0.03])
    status_names = [*_STATUSES, *(s.title() for s in _STATUSES), *(s.upper() for s in _STATUSES)]
    month_of_day = np.array([d.year * 12 + d.month - 1 for d in dates], dtype=np.int64)
    sched = pl.DataFrame(
        {
            "clinician_id": _gather(cl.ids, sc.clin),
            "appointment_id": _ids("A", np.arange(1, len(sc.clin) + 1), 8),
            "start_time": _ts(day0_ms[sc.day] + sc.start_min * _MS_MIN, "%Y-%m-%dT%H:%M:%S"),
            "duration_minutes": pl.Series(sc.dur, dtype=pl.Int64),
            "status": _gather(status_names, case * 5 + sc.status),
        }
    )
    a_month = month_of_day[sc.day]
    for month in sorted(set(month_of_day.tolist())):
        a, b = np.searchsorted(a_month, [month, month + 1])  # appointments are in date order
        path = ref / "schedule" / f"schedule_{month // 12:04d}-{month % 12 + 1:02d}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(sched.slice(int(a), int(b - a)).write_csv().encode("utf-8"))
        files += 1

    # Audit extracts: one file per night and format, named by the default-zone date.
    present = [f for f in range(2) if (cl.fmt == f).any()]
    rows_written = {FORMATS[f]: 0 for f in present}
    dup_rows = {FORMATS[f]: 0 for f in present}
    prev: dict[int, Events] = {}
    night0 = (start - _EPOCH).days
    chunk = max(1, 2_000_000 // max(1, clinicians * events_per_clinician_day))
    pending: Events = {}
    flushed = -1
    workers = min(4, os.cpu_count() or 1)
    writes: list[Future] = []

    def flush(upto: int, pool: ThreadPoolExecutor) -> None:
        nonlocal pending, flushed, files
        done = pending["night"] <= upto
        cur, pending = _take(pending, done), _take(pending, ~done)
        key = cur["night"] * 2 + cur["fmt"]
        order = np.argsort(key, kind="stable")
        cur, key = _take(cur, order), key[order]
        for night in range(flushed + 1, upto + 1):
            for f in present:
                lo, hi = np.searchsorted(key, [night * 2 + f, night * 2 + f + 1])
                raw = _take(cur, slice(int(lo), int(hi)))
                n_raw = int(hi - lo)
                parts = [np.arange(n_raw)]
                if n_raw:  # exact duplicates inside the night's file
                    parts.append(
                        np.sort(rng.choice(n_raw, size=max(1, n_raw // 500), replace=False))
                    )
                rows = _take(raw, np.concatenate(parts))
                last = prev.get(f)
                if last is not None and len(last["t"]):  # the previous night re-extracted in part
                    n_last = len(last["t"])
                    again = np.sort(rng.choice(n_last, size=max(1, n_last // 1000), replace=False))
                    rows = {k: np.concatenate([v, last[k][again]]) for k, v in rows.items()}
                n = len(rows["t"])
                rows = _take(rows, rng.permutation(n))  # extracts are not in time order
                dup_rows[FORMATS[f]] += n - n_raw
                rows_written[FORMATS[f]] += n
                prev[f] = raw
                job = _night_file(out, FORMATS[f], dates[night], rows, cl, gzip_epic)
                # zlib releases the GIL: compress and write in the pool, a few files in flight.
                writes.append(pool.submit(_store, *job))
                while len(writes) > 2 * workers:
                    writes.pop(0).result()
                files += 1
        flushed = upto

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for lo in range(0, days, chunk):
            hi = min(days, lo + chunk)
            ev = _events_chunk(
                rng, cl, sc, day0_ms, weekday, is_holiday, lo, hi, events_per_clinician_day
            )
            # Events before the first or after the last night go to that night's file.
            ev["night"] = np.clip(ev["night"] - night0, 0, days - 1)
            pending = ev if not pending else {k: np.concatenate([pending[k], ev[k]]) for k in ev}
            # A local day's events fall on that night or a neighbour in the default zone, so
            # nights up to hi - 2 are complete.
            if hi - 2 > flushed:
                flush(hi - 2, pool)
        flush(days - 1, pool)
        for w in writes:
            w.result()

    return {
        "out": str(out),
        "start": start.isoformat(),
        "end": dates[-1].isoformat(),
        "seed": seed,
        "clinicians": clinicians,
        "roster_rows": len(roster_rows),
        "appointments": len(sc.clin),
        "files_written": files,
        "event_rows": rows_written,
        "duplicate_rows": dup_rows,
    }
