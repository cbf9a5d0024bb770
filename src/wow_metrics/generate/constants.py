"""The generator's fixed tables: extract columns, the action catalogue, departments, and the
calibration constants (docs/sample.md) that the clinicians, schedule and bursts are drawn with."""

from __future__ import annotations

import datetime as dt

import numpy as np

DEFAULT_TZ = "America/New_York"
# A Monday; 28 days from it (the default) cross the 2026-03-08 US DST change. The bundled sample
# (data/sample, `make sample`) starts on 2026-02-01 instead: a complete month, then a partial one.
DEFAULT_START = dt.date(2026, 2, 23)

EPIC_COLUMNS = [
    "USER_ID",
    "ACCESS_INSTANT",
    "ACCESS_TIME",
    "METRIC_ID",
    "METRIC_NAME",
    "REPORT_NAME",
    "PAT_ID",
    "WORKSTATION_ID",
    "PROCESS_ID",
    "CSN",
]
CANONICAL_COLUMNS = [
    "clinician_id",
    "event_time",
    "action",
    "category",
    "patient_id",
    "workstation_id",
]
ROSTER_COLUMNS = ["clinician_id", "department", "specialty", "role", "clinical_fte", "timezone"]
SCHEDULE_COLUMNS = ["clinician_id", "appointment_id", "start_time", "duration_minutes", "status"]
CATEGORY_MAP_COLUMNS = ["format", "action", "report_name", "category", "is_prescription"]
FORMATS = ("epic_access_log", "canonical")

CATEGORIES = ("inbox", "notes", "orders", "chart_review", "other", "exclude")
INBOX, NOTES, ORDERS, CHART, OTHER, EXCLUDE = range(6)

# category, Epic METRIC_NAME, METRIC_ID (made up), canonical action, weight within category,
# carries a patient. Epic names follow SPEC section 3; the two "other" names are deliberately
# absent from the shipped map.
_ACTIONS: tuple[tuple[int, str, int, str, float, bool], ...] = (
    (INBOX, "In Basket message viewed", 17001, "inbox_message_open", 5.0, True),
    (INBOX, "In Basket folder loaded", 17002, "inbox_folder_load", 2.0, False),
    (INBOX, "Communication Management accessed", 17003, "inbox_message_reply", 1.5, True),
    (INBOX, "Secure chat message sent", 17004, "secure_chat_send", 1.0, True),
    (NOTES, "Notes Entry accessed", 17101, "note_open", 2.0, True),
    (NOTES, "Save clinical note", 17102, "note_edit", 4.0, True),
    (NOTES, "Pend clinical note", 17103, "note_pend", 1.5, True),
    (NOTES, "Clinical Note Signed", 17104, "note_sign", 0.7, True),
    (ORDERS, "Order list changed", 17201, "order_entry", 3.0, True),
    (ORDERS, "Order sets accessed", 17202, "order_set_open", 1.0, True),
    (ORDERS, "Release Orders activity accessed", 17203, "order_release", 0.5, True),
    (ORDERS, "Order Reconciliation Section accessed", 17204, "med_reconciliation", 1.0, True),
    (ORDERS, "Medication order signed", 17205, "prescription_sign", 1.2, True),
    (CHART, "Results Review accessed", 17301, "results_view", 3.0, True),
    (CHART, "Report with patient data viewed", 17302, "chart_report_view", 3.0, True),
    (CHART, "Chart Review Note report viewed", 17303, "chart_open", 3.0, True),
    (CHART, "Notes viewed", 17304, "note_view", 2.0, True),
    (OTHER, "Patient Lists accessed", 17401, "patient_list_view", 2.0, False),
    (OTHER, "Schedule viewed", 17402, "schedule_view", 1.0, False),
    (EXCLUDE, "In Basket message created", 17501, "inbox_message_created", 1.0, True),
    (EXCLUDE, "Order transmitted", 17502, "order_transmitted", 1.0, True),
)
_PRESCRIBING = "Medication order signed"
_ACT_CAT = np.array([a[0] for a in _ACTIONS], dtype=np.int8)
_ACT_HAS_PATIENT = np.array([a[5] for a in _ACTIONS], dtype=bool)
_ACT_REPORT = _ACTIONS.index(next(a for a in _ACTIONS if a[1] == "Report with patient data viewed"))
_REPORT_NAMES: list[str | None] = [
    None,
    "Synopsis",
    "Problem List",
    "Medications",
    "Encounters",
    "Imaging",
]
# Per category: first action index and cumulative weights (padded past 1 so no draw reaches them).
_CAT_FIRST = np.array([int(np.flatnonzero(_ACT_CAT == c)[0]) for c in range(6)])
_CAT_SIZE = np.bincount(_ACT_CAT, minlength=6)
_CAT_CUM = np.full((6, 8), 2.0)
for _c in range(6):
    _w = np.array([a[4] for a in _ACTIONS if a[0] == _c])
    _CAT_CUM[_c, : len(_w)] = np.cumsum(_w) / _w.sum()
    _CAT_CUM[_c, len(_w) - 1] = 2.0
# Off-topic events inside a burst (20% of events) follow this category mix.
_BACKGROUND_CATS = np.array([0.22, 0.18, 0.12, 0.25, 0.13, 0.10])

_DEPARTMENTS = ("Family Medicine", "Internal Medicine", "Pediatrics", "Cardiology")
_DEPT_CODES = ("FM", "IM", "PED", "CARD")
# First 12 clinicians: FM 6, IM 3, PED 2, CARD 1 (the last, IM, has no roster row).
_DEPT_PATTERN = (0, 1, 0, 2, 0, 1, 3, 0, 2, 0, 0, 1)
_DEPT_WEIGHTS = np.array([0.45, 0.27, 0.17, 0.11])
_SPECIALTIES = (
    ("Family Medicine",),
    ("Internal Medicine", "Geriatrics"),
    ("Pediatrics",),
    ("Cardiology", "Electrophysiology"),
)
# Calibration (docs/sample.md: the organisation medians it gives and the published figures).
# Per department: EHR load and inbox volume relative to family medicine (Melnick 2021: cardiology
# and pediatrics spend less EHR time per 8 scheduled hours than primary care).
_DEPT_EHR = np.array([1.0, 1.05, 0.85, 0.8])
_DEPT_INBOX = np.array([1.0, 1.15, 0.75, 0.65])
_EVENING_LOGIT = 0.0  # the median clinician charts on half of weekday evenings after clinic
_WEEKEND_LOGIT = -0.7  # ... and on about a third of weekend days
# Shares of a clinic day's event budget N for the visits (all of a full day's visits) and the
# evening session (times the clinician's eve_size); the other shares are inline below.
_VISIT_SHARE = 0.70
_EVENING_SHARE = 0.14
_DEFAULT_EPCD = 250
_DAY_EVENTS = 0.88  # N per event of the density: the shares add up to ~1 / 0.88 on a full day
# How long a burst lasts per expected event at the default density (a denser extract: shorter
# in proportion), how far apart its gaps can be (longest / shortest) and their cap.
_MS_PER_EVENT = 59_000
_GAP_SPREAD = 40.0
_GAP_CAP_MS = 285_000
_SLOTS = ((20, 40, 0.15), (20, 40, 0.25), (15, 30, 0.25), (30, 40, 0.35))  # base, long, P(long)
_STATUSES = ("completed", "arrived", "scheduled", "no_show", "canceled")
_STATUS_P = np.array([0.885, 0.01, 0.01, 0.04, 0.055])
COMPLETED, ARRIVED, SCHEDULED, NO_SHOW, CANCELED = range(5)

_MS_MIN = 60_000
_MS_DAY = 86_400_000
_EPOCH = dt.date(1970, 1, 1)
