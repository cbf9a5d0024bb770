"""Bursts of work, the generator's unit of EHR activity: for a chunk of days and every
clinician, where a stretch of work starts, how many events it holds, its category, workstation
and (for a visit) patient. Visits, sessions, the rest of a clinic day, and after hours; the
shares of the day's event budget and the chances are the calibration of docs/sample.md."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from wow_metrics.generate.clinicians import _Clinicians
from wow_metrics.generate.constants import (
    _DAY_EVENTS,
    _EVENING_SHARE,
    _MS_MIN,
    _VISIT_SHARE,
    CANCELED,
    CHART,
    INBOX,
    NO_SHOW,
    NOTES,
    ORDERS,
)
from wow_metrics.generate.schedule import _Schedule


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


@dataclass
class _Days:
    """A chunk's clinician-days (local days lo..hi-1, every clinician of each day in turn),
    flattened, and what each one is."""

    lo: int
    hi: int
    day0_ms: np.ndarray  # local midnight of every day generated (not only the chunk's), epoch ms
    n_days: int  # days generated
    dd: np.ndarray  # day
    cc: np.ndarray  # clinician
    base: np.ndarray  # local midnight, epoch ms
    N: np.ndarray  # the event budget
    inbox: np.ndarray
    notes: np.ndarray
    clinic: np.ndarray
    wkday: np.ndarray
    off: np.ndarray
    admin: np.ndarray
    ws0: np.ndarray
    ws2: np.ndarray


def _minutes(rng: np.random.Generator, lo_min, hi_min, size) -> np.ndarray:
    """size random durations between lo_min and hi_min minutes, in ms."""
    return (rng.uniform(lo_min, hi_min, size) * _MS_MIN).astype(np.int64)


def _chunk_days(
    rng: np.random.Generator,
    cl: _Clinicians,
    sc: _Schedule,
    day0_ms: np.ndarray,
    weekday: np.ndarray,
    is_holiday: np.ndarray,
    lo: int,
    hi: int,
    epcd: int,
) -> _Days:
    """The chunk's clinician-days, each with its event budget (the chunk's first draw)."""
    n_c = len(cl.ids)
    dd, cc = np.meshgrid(np.arange(lo, hi), np.arange(n_c), indexing="ij")
    dd, cc = dd.ravel(), cc.ravel()
    m = len(dd)
    # N: this clinician-day's event budget. The bursts below are shares of it, and add up to
    # about N / _DAY_EVENTS on a typical full clinic day (two sessions, an average evening): a
    # typical clinic day logs about epcd events, other days fewer.
    N = _DAY_EVENTS * epcd * cl.intensity[cc] * rng.lognormal(0.0, 0.15, size=m)
    inbox = N * cl.inbox_load[cc]
    notes = N * cl.notes_load[cc]
    clinic = sc.n_sessions[cc, dd] > 0
    wkday = (weekday[dd] < 5) & ~is_holiday[dd]
    return _Days(
        lo=lo,
        hi=hi,
        day0_ms=day0_ms,
        n_days=len(weekday),
        dd=dd,
        cc=cc,
        base=day0_ms[dd],
        N=N,
        inbox=inbox,
        notes=notes,
        clinic=clinic,
        wkday=wkday,
        off=~wkday,
        admin=wkday & ~clinic,
        ws0=cl.ws[cc, 0],
        ws2=cl.ws[cc, 2],
    )


def _visit_bursts(b: _Bursts, rng: np.random.Generator, cl: _Clinicians, sc: _Schedule,
                  days: _Days) -> None:
    """Visits: chart review at the start, notes during, orders near the end."""
    n_c, lo, hi, day0_ms = len(cl.ids), days.lo, days.hi, days.day0_ms
    a0, a1 = np.searchsorted(sc.day, [lo, hi])
    ac, ad = sc.clin[a0:a1], sc.day[a0:a1]
    ast, adur, ass = sc.start_min[a0:a1], sc.dur[a0:a1], sc.status[a0:a1]
    apat, acsn = sc.patient[a0:a1], sc.csn[a0:a1]
    seen = (ass != CANCELED) & (ass != NO_SHOW)
    visits = np.zeros((n_c, days.n_days), dtype=np.int64)
    np.add.at(visits, (ac[seen], ad[seen]), 1)
    n_grid = np.zeros((n_c, days.n_days))
    n_grid[days.cc, days.dd] = days.N
    # Visit work is per visit: a full day's visits share _VISIT_SHARE of N, a half day's half.
    half_days = sc.n_sessions[ac, ad] / 2
    per_visit = _VISIT_SHARE * n_grid[ac, ad] * half_days / np.maximum(visits[ac, ad], 1)
    notes_style = cl.notes_load[ac]
    a_ms = day0_ms[ad] + ast * _MS_MIN
    dur_ms = adur * _MS_MIN
    k = np.flatnonzero(seen | ((ass == NO_SHOW) & (rng.random(len(ac)) < 0.5)))
    b.add(
        ac[k],
        a_ms[k] - _minutes(rng, 0, 6, len(k)),
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


def _session_inbox_bursts(b: _Bursts, rng: np.random.Generator, cl: _Clinicians,
                          sc: _Schedule, days: _Days) -> None:
    """Inbox during each session, often on a second workstation (concurrent with the visit)."""
    in_grid = np.zeros((len(cl.ids), days.n_days))
    in_grid[days.cc, days.dd] = days.inbox
    lo, hi, day0_ms = days.lo, days.hi, days.day0_ms
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


def _clinic_day_bursts(b: _Bursts, rng: np.random.Generator, cl: _Clinicians, sc: _Schedule,
                       days: _Days) -> None:
    """A clinic day around its sessions: chart prep, lunch, after clinic, staying late."""
    cc, dd, base, N, inbox, notes = days.cc, days.dd, days.base, days.N, days.inbox, days.notes
    clinic, ws0, m = days.clinic, days.ws0, len(days.cc)
    first, last = sc.first_start[cc, dd], sc.last_end[cc, dd]
    # Chart prep before clinic.
    k = np.flatnonzero(clinic & (rng.random(m) < 0.85))
    b.add(
        cc[k],
        base[k] + first[k] * _MS_MIN - _minutes(rng, 20, 50, len(k)),
        0.06 * N[k],
        CHART,
        ws0[k],
    )
    # Lunchtime: inbox, then a note or two.
    k = np.flatnonzero(sc.has_am[cc, dd] & sc.has_pm[cc, dd] & (rng.random(m) < 0.75))
    noon = base[k] + 720 * _MS_MIN
    b.add(cc[k], noon + _minutes(rng, 2, 20, len(k)), 0.045 * inbox[k], INBOX, ws0[k])
    b.add(cc[k], noon + _minutes(rng, 25, 40, len(k)), 0.03 * notes[k], NOTES, ws0[k])
    # After clinic: finishing notes, then inbox; some stay past the end of the workday.
    k = np.flatnonzero(clinic)
    b.add(
        cc[k],
        base[k] + last[k] * _MS_MIN + _minutes(rng, 0, 10, len(k)),
        0.06 * notes[k],
        NOTES,
        ws0[k],
    )
    b.add(
        cc[k],
        base[k] + last[k] * _MS_MIN + _minutes(rng, 15, 30, len(k)),
        0.035 * inbox[k],
        INBOX,
        ws0[k],
    )
    k = np.flatnonzero(clinic & (rng.random(m) < cl.p_late[cc]))
    b.add(
        cc[k],
        base[k] + last[k] * _MS_MIN + _minutes(rng, 35, 70, len(k)),
        0.045 * N[k],
        np.where(rng.random(len(k)) < 0.5, NOTES, INBOX),
        ws0[k],
    )


def _after_hours_bursts(b: _Bursts, rng: np.random.Generator, cl: _Clinicians,
                        days: _Days) -> None:
    """Evenings, early mornings, admin days, weekends and holidays, and across midnight."""
    cc, base, N, inbox = days.cc, days.base, days.N, days.inbox
    clinic, wkday, off, admin = days.clinic, days.wkday, days.off, days.admin
    ws0, ws2, m = days.ws0, days.ws2, len(days.cc)
    # Evening "pajama time" on weekdays, from home: how often and how long is the clinician's
    # after-hours style.
    p_eve = cl.p_evening[cc] * np.where(clinic, 1.0, 0.4)
    k = np.flatnonzero(wkday & (rng.random(m) < p_eve))
    b.add(
        cc[k],
        base[k] + _minutes(rng, 19 * 60, 22 * 60, len(k)),
        _EVENING_SHARE * cl.eve_size[cc[k]] * N[k],
        np.where(rng.random(len(k)) < 0.5, NOTES, INBOX),
        ws2[k],
    )
    # Early morning inbox.
    k = np.flatnonzero(wkday & (rng.random(m) < cl.p_early[cc]))
    b.add(
        cc[k], base[k] + _minutes(rng, 6 * 60, 6 * 60 + 40, len(k)), 0.03 * inbox[k], INBOX, ws2[k]
    )
    # Weekdays without clinic: for a full-time clinician an admin day (a few working blocks);
    # for a part-timer often a day off, or a lighter catch-up.
    full_time = cl.fte[cc] >= 0.9
    k = np.flatnonzero(admin & (rng.random(m) < np.where(full_time, 0.85, 0.5)))
    k = np.repeat(k, np.where(full_time[k], 4, 2))
    b.add(
        cc[k],
        base[k] + _minutes(rng, 9 * 60, 16 * 60, len(k)),
        0.09 * N[k],
        rng.choice(np.array([INBOX, NOTES, CHART, ORDERS]), len(k), p=[0.4, 0.3, 0.2, 0.1]),
        ws0[k],
    )
    # Weekends and holidays: inbox from home, on the clinician's share of such days.
    k = np.flatnonzero(off & (rng.random(m) < cl.p_weekend[cc]))
    k = np.concatenate([k, k[rng.random(len(k)) < 0.4]])
    b.add(
        cc[k],
        base[k] + _minutes(rng, 8 * 60, 21 * 60, len(k)),
        0.05 * cl.eve_size[cc[k]] * inbox[k],
        np.where(rng.random(len(k)) < 0.75, INBOX, NOTES),
        ws2[k],
    )
    # Now and then a burst that runs across local midnight.
    k = np.flatnonzero(rng.random(m) < 0.03)
    b.add(
        cc[k],
        base[k] + _minutes(rng, 23 * 60 + 52, 23 * 60 + 58, len(k)),
        0.04 * N[k],
        np.where(rng.random(len(k)) < 0.5, NOTES, INBOX),
        ws2[k],
        fixed=np.where(N[k] > 0, 6, 0),
    )
