"""What the page's words and numbers look like: the shared names (chart ids, colours, the
categories and department metrics shown), and how a figure, a change, a date, a period and its
coverage read."""

from __future__ import annotations

import datetime as dt
import html
from typing import Any

CHART_IDS = ("chart-trend", "chart-departments", "chart-categories")
DASH = "\u2014"  # shown for a missing figure
MINUS = "\u2212"
FONT = ('system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, '
        '"Noto Sans", "Liberation Sans", sans-serif')
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
MONTHS_LONG = ("January", "February", "March", "April", "May", "June", "July", "August",
               "September", "October", "November", "December")

# Colours: WOW (the focus) in a strong orange, EHR time in blue, the rest muted.
COLOURS = {
    "wow": "#d9480f", "ehr": "#1c7ed6", "pajama": "#6741d9", "inbox": "#0ca678",
    "threshold": "#868e96", "pct": "#e8590c",
}
CATEGORIES = (  # (column, label, colour) for "where EHR time goes"
    ("inbox_hours", "Inbox", "#0ca678"),
    ("notes_hours", "Notes (documentation)", "#1c7ed6"),
    ("orders_hours", "Orders", "#f59f00"),
    ("chart_review_hours", "Chart review", "#7048e8"),
    ("other_hours", "Other", "#adb5bd"),
)
# Department spread shown per metric in the table: (column prefix, label, decimals)
DEPARTMENT_METRICS = (
    ("wow8", "WOW per 8 sched. h", 2),
    ("ehr_time8", "EHR time per 8 sched. h", 2),
    ("ib_time8", "Inbox per 8 sched. h", 2),
    ("note_time8", "Notes per 8 sched. h", 2),
    ("pajama_time8", "Pajama time per 8 sched. h", 2),
    ("wow_hours_per_fte_week", "WOW h per FTE week", 1),
)


def _num(value: Any, decimals: int = 2, unit: str = "") -> str:
    if value is None:
        return DASH
    text = f"{value:,.{decimals}f}".replace("-", MINUS)
    return f"{text}{unit}"


def _signed(value: float, decimals: int) -> str:
    text = f"{abs(value):.{decimals}f}"
    if round(value, decimals) == 0:
        return f"\u00b1{text}"
    return ("+" if value > 0 else MINUS) + text


def _period_label(day: dt.date | None, weekly: bool, long: bool = False,
                  axis: bool = False) -> str:
    """'Mar 2026' (or 'March 2026'); weeks by their Monday: 'week of 2 Mar 2026', on an
    axis '2 Mar 2026'."""
    if day is None:
        return DASH
    if weekly:
        return ("" if axis else "week of ") + f"{day.day} {MONTHS[day.month - 1]} {day.year}"
    return f"{(MONTHS_LONG if long else MONTHS)[day.month - 1]} {day.year}"


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)



def _day(day: dt.date | None, year: bool = True) -> str:
    """'22 Mar 2026' (or '22 Mar')."""
    if day is None:
        return DASH
    return f"{day.day} {MONTHS[day.month - 1]}" + (f" {day.year}" if year else "")


def coverage_text(row: dict[str, Any]) -> str:
    """'complete', or what part of the period the data covers: 'partial: data through 22 Mar
    2026', 'partial: data from 23 Feb 2026', 'partial: data 3 to 9 Mar 2026', 'no data yet'."""
    if row.get("is_complete_period"):
        return "complete"
    if not row.get("coverage_days"):
        return "no data yet"
    start, end = row["period_start"], row["period_start"] + dt.timedelta(
        days=int(row["period_days"]) - 1)
    first, last = row.get("coverage_start"), row.get("coverage_end")
    if first == start:
        return f"partial: data through {_day(last)}"
    if last == end:
        return f"partial: data from {_day(first)}"
    return f"partial: data {_day(first, year=False)} to {_day(last)}"


def _axis_label(row: dict[str, Any], weekly: bool) -> str:
    label = _period_label(row["period_start"], weekly, axis=True)
    return label if row.get("is_complete_period", True) else f"{label} (partial)"


def _when(moment: dt.datetime | None) -> str:
    if moment is None:
        return DASH
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC)
    return moment.strftime("%Y-%m-%d %H:%M UTC")
