"""The synthetic clinicians: roster fields, time zones, extract format, workstations, weekly
clinic templates, and how each one works (EHR load, inbox, documentation, after-hours style)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from wow_metrics.generate.constants import (
    _DEPT_CODES,
    _DEPT_EHR,
    _DEPT_INBOX,
    _DEPT_PATTERN,
    _DEPT_WEIGHTS,
    _EVENING_LOGIT,
    _SLOTS,
    _SPECIALTIES,
    _WEEKEND_LOGIT,
    DEFAULT_TZ,
)


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
    # One seeded generator draws everything in a fixed order (who, zones, format, workstations,
    # templates, styles, then the last two fields): the same seed gives the same clinicians.
    ids, dept, specialty, role, fte = _who(rng, n)
    in_roster, tz, tz_idx, zones = _roster_zones(rng, n)

    fmt = np.zeros(n, dtype=np.int64)
    if n >= 2:
        n_canon = max(1, int(round(n / 3)))
        fmt[rng.permutation(n)[:n_canon]] = 1

    ws, ws_names = _workstations(rng, n, dept)
    slot = np.array([_SLOTS[d] for d in dept])
    template = _weekly_templates(rng, n, fte)
    styles = _work_styles(rng, n, dept)
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
        **styles,
        slot_base=slot[:, 0].astype(np.int64),
        slot_long=slot[:, 1].astype(np.int64),
        p_long=slot[:, 2],
        am_start=np.where(rng.random(n) < 0.25, 510, 480),
        template=template,
        panel_base=rng.integers(1_000_000, 9_000_000, size=n),
    )


def _who(rng: np.random.Generator, n: int) -> tuple[list[str], np.ndarray, list[str], list[str],
                                                       np.ndarray]:
    """Ids, departments, specialties, roles and clinical FTEs."""
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
    return ids, dept, specialty, role, fte


def _roster_zones(rng: np.random.Generator, n: int) -> tuple[np.ndarray, list[str], np.ndarray,
                                                                list[str]]:
    """Who has a roster row, the roster's time zone ("" = default), the index of the zone in
    effect, and the zones."""
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
    return in_roster, tz, tz_idx, zones


def _workstations(rng: np.random.Generator, n: int, dept: np.ndarray) -> tuple[np.ndarray,
                                                                                list[str]]:
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
    return ws, ws_names


def _weekly_templates(rng: np.random.Generator, n: int, fte: np.ndarray) -> np.ndarray:
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
    return template


def _work_styles(rng: np.random.Generator, n: int, dept: np.ndarray) -> dict[str, np.ndarray]:
    """The _Clinicians fields from intensity to p_weekend, by name."""
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
    return {
        "intensity": intensity,
        "inbox_load": inbox_load,
        "notes_load": notes_load,
        "p_evening": p_evening,
        "eve_size": eve_size,
        "p_late": p_late,
        "p_early": p_early,
        "p_weekend": p_weekend,
    }
