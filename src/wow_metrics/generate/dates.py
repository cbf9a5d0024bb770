"""Dates and time zones: the org holiday calendar of the covered years, and local wall-clock
times to UTC (and back to a zone's offset), per clinician's zone."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl


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
