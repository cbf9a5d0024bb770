"""The landing zone on disk: wow.yaml, the reference files (roster, holidays, the canonical
format's action map), one schedule file per month, then the nightly extracts, written in a fixed
order as the chunks of events are made."""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import polars as pl

from wow_metrics.generate.clinicians import _Clinicians, _make_clinicians
from wow_metrics.generate.constants import (
    _ACTIONS,
    _DEFAULT_EPCD,
    _DEPARTMENTS,
    _EPOCH,
    _MS_DAY,
    _MS_MIN,
    _PRESCRIBING,
    _STATUSES,
    CATEGORIES,
    CATEGORY_MAP_COLUMNS,
    DEFAULT_START,
    DEFAULT_TZ,
    FORMATS,
    OTHER,
    ROSTER_COLUMNS,
)
from wow_metrics.generate.dates import _holidays
from wow_metrics.generate.events import _events_chunk
from wow_metrics.generate.extracts import Events, _gather, _ids, _night_file, _store, _take, _ts
from wow_metrics.generate.schedule import _make_schedule, _Schedule


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
    roster_rows = _write_reference(out, cl, holidays)
    files = 4 + _write_schedule(rng, out / "reference", cl, sc, dates, day0_ms)

    # Audit extracts: one file per night and format, named by the default-zone date.
    night0 = (start - _EPOCH).days
    chunk = max(1, 2_000_000 // max(1, clinicians * events_per_clinician_day))
    workers = min(4, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        nights = _Nights(rng, out, cl, dates, gzip_epic, pool, workers)
        for lo in range(0, days, chunk):
            hi = min(days, lo + chunk)
            ev = _events_chunk(
                rng, cl, sc, day0_ms, weekday, is_holiday, lo, hi, events_per_clinician_day
            )
            # Events before the first or after the last night go to that night's file.
            ev["night"] = np.clip(ev["night"] - night0, 0, days - 1)
            nights.add(ev)
            # A local day's events fall on that night or a neighbour in the default zone, so
            # nights up to hi - 2 are complete.
            if hi - 2 > nights.flushed:
                nights.flush(hi - 2)
        nights.flush(days - 1)
        nights.wait()

    return {
        "out": str(out),
        "start": start.isoformat(),
        "end": dates[-1].isoformat(),
        "seed": seed,
        "clinicians": clinicians,
        "roster_rows": roster_rows,
        "appointments": len(sc.clin),
        "files_written": files + nights.files,
        "event_rows": nights.rows_written,
        "duplicate_rows": nights.dup_rows,
    }


def _write_csv_rows(path: Path, columns: list[str], rows: list[list[object]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(rows)
    path.write_bytes(buf.getvalue().encode("utf-8"))


def _write_reference(out: Path, cl: _Clinicians, holidays: list[tuple[dt.date, str]]) -> int:
    """Write wow.yaml, the roster, the holidays and the canonical action map (4 files); return
    the roster's rows."""
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
        for i in range(len(cl.ids))
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
    return len(roster_rows)


def _write_schedule(rng: np.random.Generator, ref: Path, cl: _Clinicians, sc: _Schedule,
                    dates: list[dt.date], day0_ms: np.ndarray) -> int:
    """Write one schedule file per calendar month of the appointments' local start dates;
    return how many."""
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
    files = 0
    for month in sorted(set(month_of_day.tolist())):
        a, b = np.searchsorted(a_month, [month, month + 1])  # appointments are in date order
        path = ref / "schedule" / f"schedule_{month // 12:04d}-{month % 12 + 1:02d}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(sched.slice(int(a), int(b - a)).write_csv().encode("utf-8"))
        files += 1
    return files


class _Nights:
    """The nightly extract files, written in night order as the chunks of events come in: a
    night's files once no later chunk can add to them (``flush``). Counts the files, the rows
    written per format and the duplicate rows among them."""

    def __init__(self, rng: np.random.Generator, out: Path, cl: _Clinicians,
                 dates: list[dt.date], gzip_epic: bool, pool: ThreadPoolExecutor,
                 workers: int) -> None:
        self.rng, self.out, self.cl, self.dates, self.gzip_epic = rng, out, cl, dates, gzip_epic
        self.pool, self.workers = pool, workers
        self.present = [f for f in range(2) if (cl.fmt == f).any()]
        self.rows_written = {FORMATS[f]: 0 for f in self.present}
        self.dup_rows = {FORMATS[f]: 0 for f in self.present}
        self.prev: dict[int, Events] = {}
        self.pending: Events = {}
        self.flushed = -1
        self.files = 0
        self.writes: list[Future] = []

    def add(self, ev: Events) -> None:
        pending = self.pending
        self.pending = ev if not pending else {k: np.concatenate([pending[k], ev[k]]) for k in ev}

    def flush(self, upto: int) -> None:
        """Write the files of every night not yet written, up to night ``upto``."""
        done = self.pending["night"] <= upto
        cur, self.pending = _take(self.pending, done), _take(self.pending, ~done)
        key = cur["night"] * 2 + cur["fmt"]
        order = np.argsort(key, kind="stable")
        cur, key = _take(cur, order), key[order]
        for night in range(self.flushed + 1, upto + 1):
            for f in self.present:
                lo, hi = np.searchsorted(key, [night * 2 + f, night * 2 + f + 1])
                self._write(night, f, _take(cur, slice(int(lo), int(hi))))
        self.flushed = upto

    def _write(self, night: int, f: int, raw: Events) -> None:
        """One night's file of format f, with its duplicate rows, in no particular order."""
        rng = self.rng
        n_raw = len(raw["t"])
        parts = [np.arange(n_raw)]
        if n_raw:  # exact duplicates inside the night's file
            parts.append(np.sort(rng.choice(n_raw, size=max(1, n_raw // 500), replace=False)))
        rows = _take(raw, np.concatenate(parts))
        last = self.prev.get(f)
        if last is not None and len(last["t"]):  # the previous night re-extracted in part
            n_last = len(last["t"])
            again = np.sort(rng.choice(n_last, size=max(1, n_last // 1000), replace=False))
            rows = {k: np.concatenate([v, last[k][again]]) for k, v in rows.items()}
        n = len(rows["t"])
        rows = _take(rows, rng.permutation(n))  # extracts are not in time order
        self.dup_rows[FORMATS[f]] += n - n_raw
        self.rows_written[FORMATS[f]] += n
        self.prev[f] = raw
        job = _night_file(self.out, FORMATS[f], self.dates[night], rows, self.cl, self.gzip_epic)
        # zlib releases the GIL: compress and write in the pool, a few files in flight.
        self.writes.append(self.pool.submit(_store, *job))
        while len(self.writes) > 2 * self.workers:
            self.writes.pop(0).result()
        self.files += 1

    def wait(self) -> None:
        for w in self.writes:
            w.result()
