"""The settings and metric definitions published with every figure (Rule et al. 2024 guidance)."""

from __future__ import annotations

from wow_metrics.config import Settings

METRICS: list[tuple[str, str, str]] = [
    # (name, unit, definition); {placeholders} are filled from the settings.
    ("active_time", "minutes",
     "Per clinician, de-duplicated non-excluded events of all sources and workstations are merged "
     "into one timeline sorted by instant (ties: action, then workstation_id). The gap to the next "
     "event is active time of the earlier event's category when it is at most "
     "{idle_threshold_seconds} s; longer gaps are idle; the last event adds nothing."),
    ("ehr_minutes", "minutes", "Active time within the clinician's local date."),
    ("inbox_minutes", "minutes", "Active time whose event category is inbox."),
    ("notes_minutes", "minutes", "Active time whose event category is notes."),
    ("orders_minutes", "minutes", "Active time whose event category is orders."),
    ("chart_review_minutes", "minutes", "Active time whose event category is chart_review."),
    ("other_minutes", "minutes", "Active time of any other mapped or unmapped action."),
    ("prescriptions_minutes", "minutes", "The part of orders_minutes from prescribing actions."),
    ("scheduled_minutes", "minutes",
     "Scheduled time: the union of [start, start + duration) of appointments whose status is not "
     "canceled (no_show counts), within the date."),
    ("in_schedule_minutes", "minutes", "Active time inside scheduled time."),
    ("wow_minutes", "minutes",
     "Work outside of work (Arndt et al. 2023): ehr_minutes - in_schedule_minutes; no grace "
     "period; unscheduled days included."),
    ("outside_schedule_window_minutes", "minutes",
     "Active time outside the date's schedule window [first appointment start - "
     "{schedule_window_grace_minutes} min, latest end + {schedule_window_grace_minutes} min] "
     "(Epic Signal style); all of it on a date with no appointment starting."),
    ("unscheduled_day_minutes", "minutes",
     "ehr_minutes of a date on which no appointment starts, else 0."),
    ("pajama_minutes", "minutes",
     "Active time on Saturdays, Sundays and holidays, and on other days before {workday_start} or "
     "at/after {workday_end} local time."),
    ("ehr_time8", "hours per 8 scheduled hours",
     "Sinsky et al. 2020: ehr_hours x 8 / scheduled_hours; NULL when scheduled_hours = 0. Likewise "
     "wow8, ib_time8, note_time8, presc_time8, order_time8, pajama_time8."),
    ("coverage_days", "days",
     "The period's dates inside the organisation's coverage: from the earliest to the latest "
     "local date on which any clinician has an event (coverage_by_date). is_complete_period: "
     "coverage_days equals the days of the calendar period. A date inside the coverage without a "
     "single event is a gap (a missed extract), flagged, not read as a quiet day."),
    ("hours_per_fte_week", "hours per clinical FTE week",
     "<metric>_hours / (clinical_fte x coverage_days / 7): a weekly rate over the days the data "
     "covers, so a partial first or latest period is never diluted by days without data; NULL "
     "without a roster FTE or when coverage_days = 0."),
    ("minutes_per_sched_day", "minutes per scheduled day",
     "The period's total minutes (unscheduled days included) / days with an appointment; NULL "
     "when there are none."),
    ("undivided_attention_pct", "percent",
     "100 x (1 - in_schedule_hours / scheduled_hours); NULL when scheduled_hours = 0."),
    ("period", "", "Calendar {period} of local dates (ISO weeks start on Monday)."),
    ("department_spread", "as the metric",
     "ehr_time_by_department_period: p25, median and p75 (quantile_cont, linear interpolation) "
     "of ehr_time8, wow8, ib_time8, note_time8, pajama_time8 and wow_hours_per_fte_week over the "
     "department's eligible clinicians (scheduled_hours >= {min_scheduled_hours}) that have the "
     "metric; NULL and is_suppressed when fewer than {min_cell_size} clinicians are eligible."),
    ("efficiency_of_practice", "as the metric",
     "efficiency_of_practice_by_period: organisation medians over eligible clinicians "
     "(scheduled_hours >= {min_scheduled_hours}) of wow8, ehr_time8 and WOW, pajama and inbox "
     "hours per FTE week; the percent of eligible clinicians with an FTE whose WOW exceeds "
     "{wow_threshold_hours_per_fte_week} h per FTE week; each with its change from the previous "
     "{period}, computed only when both periods are complete (NULL otherwise); suppressed under "
     "{min_cell_size} clinicians."),
]


def metric_definition_rows(settings: Settings, run_id: str) -> list[dict]:
    """One row per setting that can move a figure and per metric definition, with the settings
    filled in. Operational settings (threads, partitions, memory, lock wait) change no figure and
    are left out, so the same inputs publish the same table however the run was tuned."""
    from wow_metrics.state import OPERATIONAL_SETTINGS

    values = {name: _shown(value) for name, value in settings.model_dump().items()}
    rows = [
        {"kind": "setting", "name": name, "value": value,
         "unit": _SETTING_UNITS.get(name, ""),
         "definition": _SETTING_TEXT[name], "run_id": run_id}
        for name, value in values.items() if name not in OPERATIONAL_SETTINGS
    ]
    rows += [
        {"kind": "metric", "name": name, "value": None, "unit": unit,
         "definition": text.format(**values), "run_id": run_id}
        for name, unit, text in METRICS
    ]
    return rows


def _shown(value: object) -> str | None:
    """A setting as text, one way only: 300.0 -> '300', 0.5 -> '0.5'."""
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


_SETTING_UNITS = {
    "idle_threshold_seconds": "seconds",
    "schedule_window_grace_minutes": "minutes",
    "min_cell_size": "clinicians",
    "min_scheduled_hours": "hours",
    "wow_threshold_hours_per_fte_week": "hours per clinical FTE week",
    "max_reference_reject_share": "share of a file's rows",
    "max_eligible_drop_share": "share of eligible clinicians",
}

_SETTING_TEXT = {
    "default_timezone": "Zone of naive timestamps and of clinicians without a roster time zone.",
    "idle_threshold_seconds": "Inactivity threshold: a gap longer than this between events is idle.",
    "workday_start": "Local weekday clock time before which time is pajama time.",
    "workday_end": "Local weekday clock time at or after which time is pajama time.",
    "schedule_window_grace_minutes": "Grace around the schedule window.",
    "period": "Reporting period: month or ISO week.",
    "min_cell_size": "Rollups over fewer clinicians are suppressed (never fewer than 5: the "
    "floor, config.MIN_CELL_SIZE_FLOOR).",
    "min_scheduled_hours": "Scheduled hours a clinician-period needs to enter the department and "
    "organisation rollups (eligible clinicians).",
    "wow_threshold_hours_per_fte_week": "WOW above this many hours per clinical-FTE week counts "
    "in efficiency_of_practice_by_period's pct_clinicians_wow_over_threshold.",
    "reference_check_severity": "Gate, not a figure: critical blocks publication when a reference "
    "file is quarantined whole, has too many rejected rows, or a period loses too many eligible "
    "clinicians; warning reports it and publishes.",
    "max_reference_reject_share": "Gate, not a figure: a reference file with more than this share "
    "of its rows rejected fails the reference checks.",
    "max_eligible_drop_share": "Gate, not a figure: one of the two latest periods (complete, or "
    "with at least 14 days of data) with more than this share fewer eligible clinicians than the "
    "complete period before it fails the reference checks.",
}
