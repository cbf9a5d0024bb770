"""The two extract formats: a night's events as ``epic_access_log`` or ``canonical`` CSV rows
(polars), and the night's file (path, bytes, gzip with mtime 0 for byte-identical output)."""

from __future__ import annotations

import datetime as dt
import gzip
from pathlib import Path

import numpy as np
import polars as pl

from wow_metrics.generate.clinicians import _Clinicians
from wow_metrics.generate.constants import (
    _ACT_CAT,
    _ACTIONS,
    _MS_MIN,
    _REPORT_NAMES,
    CATEGORIES,
)

# One chunk's or one night's events: a column of numbers per field (see events._events_chunk).
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
