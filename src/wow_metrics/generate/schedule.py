"""The clinic schedule: each clinician's sessions from their weekly template (less holidays,
leave and dropped half-days), cut into appointment slots with a few double-bookings, each with
a status, a patient and an encounter (CSN)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from wow_metrics.generate.clinicians import _Clinicians
from wow_metrics.generate.constants import _STATUS_P


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
