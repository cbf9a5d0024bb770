"""Synthetic landing-zone generator (SPEC section 1): roster, schedule, holidays, audit extracts.

Besides the extracts it writes ``reference/category_map.csv`` with the site's rows for the
``canonical`` action names (the shipped map covers ``epic_access_log`` only).

Everything written is synthetic: clinician ids ``C0001``..., patient ids ``Z`` + digits, made-up
workstations. The output is a pure function of the arguments (one seeded numpy Generator, files
written in a fixed order, gzip with mtime 0 and no file name), so the same call gives
byte-identical files.

Shape of the data, per clinician (all times local wall-clock in the clinician's time zone):

- Clinic sessions on weekdays, morning 08:00/08:30-12:00 and afternoon 13:00-17:00, of 15-40 minute
  slots with a few overlapping double-bookings; a few percent canceled and no-show. Part-time
  clinicians have fewer sessions; a weekday without sessions is an admin day for a full-timer
  and often a day off for a part-timer; the org holiday and a few random leave days have none.
- Work comes in bursts, each a stretch of time with events spread over it: per visit chart review
  at the start, notes during, orders near the end; chart prep before clinic; inbox during
  sessions (often on a second workstation, i.e. concurrently) and at lunch; note finishing and
  inbox after clinic, some days past the end of the workday; evening "pajama time" (19:00-23:00)
  from home; early mornings (06:00) now and then; weekend/holiday inbox; admin-day work; a few
  bursts that run across local midnight. Gaps between a burst's events are mostly 5-90 s at the
  default density, now and then exactly 300 s, over 300 s (idle) or 0 s (a tie).
- ``events_per_clinician_day`` sets how many events a typical full clinic day logs (other days
  fewer), not how long the work takes: a denser extract logs the same stretches of work with
  more, closer events, so the EHR time it carries hardly depends on the density.
- Clinicians differ, and departments too: EHR load (family and internal medicine highest,
  pediatrics and cardiology lower), inbox volume, documentation style, and an after-hours style
  that sets how often and how long they chart in the evening and at weekends (a few heavy
  after-hours users, many light ones). These are drawn stratified, so even a clinic of a dozen
  has the whole range and a typical median.
- Calibrated (docs/sample.md) so that, through the pipeline's definitions, the organisation's
  medians fall in the published ranges: EHR time about 5.7 h per 8 scheduled hours, about 30
  minutes of pajama time per scheduled day, inbox about 20% and notes about a third of EHR time.
- Each clinician's events go to one extract format (about 2/3 ``epic_access_log``, 1/3
  ``canonical``), one file per night, named by the event's date in the default time zone (the EHR
  server's), rows shuffled, with a few exact duplicate rows inside a file and copied from the
  previous night's file.

Events are built with numpy, vectorised over all clinicians and a chunk of days at a time, and
written with polars, so tens of millions of rows are feasible.

The package, by job: ``constants`` (columns, the action catalogue, the calibration),
``clinicians``, ``schedule``, ``dates`` (holidays, time zones), ``bursts`` (stretches of work),
``events`` (bursts expanded into events), ``extracts`` (the two CSV formats) and ``landing``
(``generate_landing``: the files, in order).
"""

from wow_metrics.generate.constants import (
    ARRIVED,
    CANCELED,
    CANONICAL_COLUMNS,
    CATEGORIES,
    CATEGORY_MAP_COLUMNS,
    CHART,
    COMPLETED,
    DEFAULT_START,
    DEFAULT_TZ,
    EPIC_COLUMNS,
    EXCLUDE,
    FORMATS,
    INBOX,
    NO_SHOW,
    NOTES,
    ORDERS,
    OTHER,
    ROSTER_COLUMNS,
    SCHEDULE_COLUMNS,
    SCHEDULED,
)
from wow_metrics.generate.extracts import Events
from wow_metrics.generate.landing import generate_landing

__all__ = [
    "ARRIVED",
    "CANCELED",
    "CANONICAL_COLUMNS",
    "CATEGORIES",
    "CATEGORY_MAP_COLUMNS",
    "CHART",
    "COMPLETED",
    "DEFAULT_START",
    "DEFAULT_TZ",
    "EPIC_COLUMNS",
    "EXCLUDE",
    "FORMATS",
    "INBOX",
    "NO_SHOW",
    "NOTES",
    "ORDERS",
    "OTHER",
    "ROSTER_COLUMNS",
    "SCHEDULED",
    "SCHEDULE_COLUMNS",
    "Events",
    "generate_landing",
]
