"""The headline: a card per key figure of the latest period with its change from the
previous one (or why there is none), and the note on who the figures cover."""

from __future__ import annotations

from typing import Any

from wow_metrics.dashboard.data import _Data, _latest
from wow_metrics.dashboard.formatting import _e, _num, _period_label, _signed, coverage_text


def _kpi_cards(data: _Data) -> str:
    """The cards of the latest period and the note under them."""
    latest = _latest(data)
    if latest is None:
        return '<p class="note">No period has been published yet: there is nothing to show.</p>'
    weekly = data.weekly
    period = _period_label(latest["period_start"], weekly, long=True)
    period = period[:1].upper() + period[1:]
    previous = latest.get("previous_period_start")
    prev_label = _period_label(previous, weekly) if previous else None
    previous_complete = next((bool(r.get("is_complete_period", True)) for r in data.org
                              if r["period_start"] == previous), True)
    threshold = float(latest.get("wow_threshold_hours_per_fte_week")
                      or data.setting("wow_threshold_hours_per_fte_week"))
    cards = (
        ("wow8_median", "Work outside of work (WOW)", " h", "per 8 scheduled hours", 2, True),
        ("ehr_time8_median", "Total EHR time", " h", "per 8 scheduled hours", 2, False),
        ("wow_hours_per_fte_week_median", "WOW per clinical FTE week", " h",
         "per full-time clinical week", 1, False),
        ("pct_clinicians_wow_over_threshold", f"Clinicians with WOW over {threshold:g} h",
         "%", f"of eligible clinicians (WOW over {threshold:g} h per clinical FTE week)",
         0, True),
        ("pajama_hours_per_fte_week_median", "Pajama time", " h",
         "per clinical FTE week (evenings, weekends, holidays)", 1, False),
        ("inbox_hours_per_fte_week_median", "Inbox time", " h", "per clinical FTE week", 1,
         False),
    )
    out = [_kpi_card(data, latest, card, period, prev_label, previous_complete)
           for card in cards]
    return f'<div class="kpis">{"".join(out)}</div>\n{_kpi_note(data, latest, period)}</p>'


def _kpi_card(data: _Data, latest: dict[str, Any], card: tuple, period: str,
              prev_label: str | None, previous_complete: bool) -> str:
    """One card: (column, title, unit, sub, decimals, key) of the latest period."""
    column, title, unit, sub, decimals, key = card
    value = latest.get(column)
    change = latest.get(f"{column}_change")
    if latest.get("is_suppressed"):
        shown, delta, cls = data.suppressed_text, "", "suppressed"
    else:
        shown, cls = _num(value, decimals, unit), ""
        change_unit = " points" if unit == "%" else unit
        if change is not None and prev_label:
            trend = "up" if round(change, decimals) > 0 else (
                "down" if round(change, decimals) < 0 else "flat")
            delta = (f'<span class="delta {trend}">{_signed(change, decimals)}{change_unit} '
                     f"vs {_e(prev_label)}</span>")
        elif not latest.get("is_complete_period", True):
            delta = (f'<span class="delta none">no change shown: {_e(period)} is '
                     "partial</span>")
        elif prev_label and not previous_complete:
            delta = (f'<span class="delta none">no change shown: {_e(prev_label)} is '
                     "partial</span>")
        elif prev_label:
            delta = f'<span class="delta none">no comparison with {_e(prev_label)}</span>'
        else:
            delta = '<span class="delta none">no previous period to compare</span>'
    return (f'<div class="kpi{" key" if key else ""} {cls}" data-metric="{column}">'
            f'<div class="kpi-title">{_e(title)}</div>'
            f'<div class="kpi-value">{_e(shown)}</div>'
            f'<div class="kpi-sub">{_e(sub)}</div>{delta}</div>')


def _kpi_note(data: _Data, latest: dict[str, Any], period: str) -> str:
    """Who the latest period's figures cover, whether it is partial, and why newer periods are
    not shown (an open paragraph: the caller closes it)."""
    weekly = data.weekly
    n, measured = latest.get("n_clinicians") or 0, latest.get("n_clinicians_measured") or 0
    newer = [r for r in data.org if r["period_start"] > latest["period_start"]]
    eligible = (f"eligible = at least {data.setting('min_scheduled_hours'):g} scheduled hours "
                "in the period")
    if latest.get("is_suppressed"):
        note = (f"<p class=\"note\">{_e(period)}: {n} eligible clinicians ({eligible}), fewer "
                f"than {data.min_cell_size}: the organisation's figures are suppressed.")
    else:
        note = (f"<p class=\"note\">{_e(period)}: medians over <b>{n}</b> eligible clinicians "
                f"(of {measured} with EHR activity or scheduled time; {eligible}).")
    if not latest.get("is_complete_period", True):
        note += (f" <b class=\"partial\">{_e(period)} is {_e(coverage_text(latest))}</b> "
                 f"({latest.get('coverage_days') or 0} of {latest.get('period_days')} days): "
                 "its per-FTE-week figures are weekly rates over the days with data, and "
                 f"changes are shown only between complete {'week' if weekly else 'month'}s.")
    for r in newer:
        label = _e(_period_label(r["period_start"], weekly))
        if not r.get("coverage_days"):
            note += f" {label} is not shown: it has scheduled time but no EHR data yet."
        elif not r.get("is_complete_period") and (r.get("coverage_days") or 0) < 14:
            note += (f" {label} is not shown yet: {r['coverage_days']} day(s) of data so far, "
                     "and no clinician has enough scheduled time in it yet.")
        else:
            note += (f" {label} is not shown: no clinician has enough scheduled time in it "
                     f"although {r['coverage_days']} days have data. Check the schedule files "
                     "(<a href=\"#data-quality\">data quality</a>).")
    note += " A rise in any of these figures means more EHR work, so arrows up are shown in red."
    return note
