"""Events from bursts: a chunk of days' bursts of work (bursts.py), each expanded into its
events (times with realistic gaps, idle stretches and ties), each event given an action, a
patient and an encounter, and the fields the two extract formats write."""

from __future__ import annotations

import numpy as np

from wow_metrics.generate.bursts import (
    _after_hours_bursts,
    _Bursts,
    _chunk_days,
    _clinic_day_bursts,
    _session_inbox_bursts,
    _visit_bursts,
)
from wow_metrics.generate.clinicians import _Clinicians
from wow_metrics.generate.constants import (
    _ACT_CAT,
    _ACT_HAS_PATIENT,
    _ACT_REPORT,
    _BACKGROUND_CATS,
    _CAT_CUM,
    _CAT_FIRST,
    _CAT_SIZE,
    _DEFAULT_EPCD,
    _GAP_CAP_MS,
    _GAP_SPREAD,
    _MS_DAY,
    _MS_PER_EVENT,
    _REPORT_NAMES,
    EXCLUDE,
)
from wow_metrics.generate.dates import _local_to_utc_ms, _utc_offset_ms
from wow_metrics.generate.schedule import _Schedule


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
    # One seeded generator, drawn from in a fixed order (the bursts in the order below, then
    # the events): the same seed gives the same events.
    b = _Bursts(rng)
    days = _chunk_days(rng, cl, sc, day0_ms, weekday, is_holiday, lo, hi, epcd)
    _visit_bursts(b, rng, cl, sc, days)
    _session_inbox_bursts(b, rng, cl, sc, days)
    _clinic_day_bursts(b, rng, cl, sc, days)
    _after_hours_bursts(b, rng, cl, days)

    bc, blocal, bn, bmean, bcat, bws, bpat, bcsn = b.arrays()
    keep = bn > 0
    bc, blocal, bn, bmean, bcat, bws, bpat, bcsn = (
        x[keep] for x in (bc, blocal, bn, bmean, bcat, bws, bpat, bcsn)
    )
    butc = _local_to_utc_ms(blocal, cl.tz_idx[bc], cl.zones)
    bpid = rng.integers(1000, 99_999, size=len(bc))

    bidx, first_ev, tie, t = _event_times(rng, butc, bn, bmean, epcd)
    n = len(bidx)
    clin = bc[bidx]
    act = _event_actions(rng, bcat[bidx], tie)
    pat, csn = _event_patients(rng, cl, clin, first_ev, act, bpat[bidx], bcsn[bidx])
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


def _event_times(
    rng: np.random.Generator, butc: np.ndarray, bn: np.ndarray, bmean: np.ndarray, epcd: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Each event's burst, the first event of every burst, whether an event ties with the one
    before it, and its UTC time (epoch ms); bursts start at butc and hold bn events."""
    nb = len(bn)
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
    return bidx, first_ev, tie, t


def _event_actions(rng: np.random.Generator, burst_cat: np.ndarray, tie: np.ndarray) -> np.ndarray:
    """Each event's action (an index into _ACTIONS): mostly of its burst's category."""
    n = len(burst_cat)
    cat = np.where(rng.random(n) < 0.8, burst_cat, rng.choice(6, size=n, p=_BACKGROUND_CATS))
    within = (rng.random(n)[:, None] >= _CAT_CUM[cat]).sum(axis=1)
    # Events at the same instant as the previous one are a different action (no accidental
    # duplicates: the duplicates in the output are the deliberate ones).
    same = np.flatnonzero(tie)
    same = same[
        _CAT_FIRST[cat[same]] + within[same] == _CAT_FIRST[cat[same - 1]] + within[same - 1]
    ]
    within[same] = (within[same] + 1) % _CAT_SIZE[cat[same]]
    act = _CAT_FIRST[cat] + within
    return act


def _event_patients(
    rng: np.random.Generator,
    cl: _Clinicians,
    clin: np.ndarray,
    first_ev: np.ndarray,
    act: np.ndarray,
    burst_pat: np.ndarray,
    burst_csn: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Each event's patient and encounter number (-1 for none)."""
    n = len(clin)
    # Patients: the visit's patient; elsewhere runs of a few events per patient (one message).
    change = rng.random(n) < 0.3
    change[first_ev] = True
    run = np.cumsum(change) - 1
    n_runs = int(run[-1]) + 1 if n else 0
    run_pat = cl.panel_base[clin] + rng.integers(0, 2500, size=n_runs)[run]
    run_csn = 800_000_000 + rng.integers(0, 99_999_999, size=n_runs)[run]
    pat = np.where(burst_pat >= 0, burst_pat, run_pat)
    csn = np.where(burst_csn >= 0, burst_csn, run_csn)
    no_pat = ~_ACT_HAS_PATIENT[act]
    pat[no_pat] = -1
    csn[no_pat] = -1
    return pat, csn
