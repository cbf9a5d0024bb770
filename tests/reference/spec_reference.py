"""An independent, plain-Python reference implementation of SPEC sections 1, 3, 4, 5 and 6.

It reads a landing zone (``wow.yaml``, ``audit/<format>/**/*.csv[.gz]``, ``reference/...``) and
returns the clinician-day rows (SPEC 5) and clinician-period rows (SPEC 6), to be used by tests as
an oracle for the DuckDB pipeline. It is written for clarity, not speed, and deliberately shares no
code with ``src/wow_metrics`` or ``sql/``.

All time arithmetic is done on UTC instants held as integer microseconds since the Unix epoch;
local wall-clock boundaries (midnight, workday start/end) are converted with ``zoneinfo``.
Minutes are reported as ``microseconds / 60e6``; period figures are computed with exact fractions
and converted to float at the end.

Readings taken where the SPEC and the team brief are silent are listed in ``INTERPRETATIONS``.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
import zlib
from bisect import bisect_right
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
US_PER_SECOND = 1_000_000
US_PER_MINUTE = 60 * US_PER_SECOND
US_PER_HOUR = 60 * US_PER_MINUTE

CATEGORIES = ("inbox", "notes", "orders", "chart_review", "other", "exclude")
MEASURED_CATEGORIES = ("inbox", "notes", "orders", "chart_review", "other")
STATUSES = ("scheduled", "arrived", "completed", "no_show", "canceled")

INTERPRETATIONS = """
Readings this reference takes beyond the SPEC and the team brief:
- CSV headers are matched after stripping whitespace/BOM, case-insensitively; a file missing a
  required column, or unreadable (bad gzip, not UTF-8, CSV error), is skipped whole. Only files
  named *.csv / *.csv.gz (lower case) are read; *.parquet is not supported by the reference.
- A data row whose field count differs from the header's is skipped.
- Timestamps: YYYY-MM-DD[T ]HH:MM[:SS[.f...]][Z|+HH[:MM]]; more than 6 fractional digits are
  truncated to microseconds. A date without a time is invalid.
- ACCESS_INSTANT that is present but unparseable makes the row invalid (no fallback to
  ACCESS_TIME). An offset on ACCESS_INSTANT/ACCESS_TIME, if given, is honoured.
- Canonical `category` is matched case-insensitively; an unknown category makes the row invalid.
- De-duplication runs over all valid rows (including those whose category is `exclude`), then
  excluded events are dropped. The key does not include the format.
- Action-map lookups are exact (case-sensitive) on action and report_name after stripping.
  is_prescription counts only when the resolved category is `orders`. Within the landing
  category_map.csv a later row with the same key wins; invalid rows are skipped.
- Same-instant ties are ordered by action, workstation_id, then report_name, patient id, then
  file/line order (only the last tie's category matters).
- Roster: an unparseable/out-of-range clinical_fte or an unknown timezone skips the whole row
  (the clinician is then 'unknown' with default_timezone); an empty clinical_fte is kept as
  "no FTE"; empty department becomes 'unknown', empty specialty/role become None; a repeated
  clinician_id: the later row wins.
- Schedule: duration_minutes must be a number > 0; status must be one of the five SPEC values
  (case-insensitive); invalid rows are skipped and do not replace an earlier row. Replacement is
  by appointment_id alone (it may move an appointment to another clinician); a replacing
  `canceled` row removes the appointment. Only reference/schedule/*.csv (not recursive). A naive
  start_time that does not exist in the clinician's zone (DST gap) makes the row invalid; an
  ambiguous one takes the earlier instant.
- wow.yaml keys given with an empty (null) value take their defaults.
- Local wall-clock boundaries that fall in a DST gap (midnight, workday_start/end) map to the
  first instant whose local wall clock is >= the boundary; ambiguous ones to the earlier instant.
- If workday_end <= workday_start, every weekday minute is pajama time. An unquoted YAML time
  such as 17:30 (read by YAML 1.1 as the integer 1050) is taken as minutes after midnight.
- Day rows exist only for dates with events or scheduled_minutes > 0; active time that would fall
  on a date with neither (only possible with idle_threshold_seconds > ~1 day) is dropped.
"""


# --------------------------------------------------------------------------------------------
# Shipped action map (SPEC section 3), hard-coded to stay independent of the production files.
# --------------------------------------------------------------------------------------------

def _shipped_action_map() -> dict[tuple[str, str, str], tuple[str, bool]]:
    groups = {
        "inbox": ["In Basket message viewed", "In Basket folder loaded",
                  "Communication Management accessed", "Secure chat message sent"],
        "notes": ["Clinical Note Signed", "Pend clinical note", "Save clinical note",
                  "Notes Entry accessed"],
        "orders": ["Order list changed", "Order sets accessed", "Release Orders activity accessed",
                   "Order Reconciliation Section accessed"],
        "chart_review": ["Results Review accessed", "Report with patient data viewed",
                         "Chart Review Note report viewed", "Notes viewed"],
        "exclude": ["In Basket message created", "Order transmitted"],
    }
    mapping: dict[tuple[str, str, str], tuple[str, bool]] = {}
    for category, actions in groups.items():
        for action in actions:
            mapping[("epic_access_log", action, "")] = (category, False)
    mapping[("epic_access_log", "Medication order signed", "")] = ("orders", True)
    return mapping


# --------------------------------------------------------------------------------------------
# Configuration (SPEC section 2)
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Config:
    default_timezone: str = "UTC"
    idle_threshold_us: int = 300 * US_PER_SECOND
    workday_start: time = time(7, 0)
    workday_end: time = time(17, 30)
    grace_us: int = 30 * US_PER_MINUTE
    period: str = "month"

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.default_timezone)


def _number(value: Any, what: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        raise ValueError(f"{what}: not a number: {value!r}")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation as exc:
        raise ValueError(f"{what}: not a number: {value!r}") from exc
    if not number.is_finite() or number < 0:
        raise ValueError(f"{what}: must be a finite number >= 0: {value!r}")
    return number


def _clock(value: Any, what: str) -> time:
    if isinstance(value, bool):
        raise ValueError(f"{what}: not a clock time: {value!r}")
    if isinstance(value, int):  # YAML 1.1 reads an unquoted 17:30 as sexagesimal 1050
        if not 0 <= value < 24 * 60:
            raise ValueError(f"{what}: out of range: {value!r}")
        return time(value // 60, value % 60)
    if isinstance(value, time):
        return value
    match = re.fullmatch(r"(\d{1,2}):(\d{2})(?::(\d{2}))?", str(value).strip())
    if not match:
        raise ValueError(f"{what}: not HH:MM: {value!r}")
    return time(int(match[1]), int(match[2]), int(match[3] or 0))


def load_config(landing: Path) -> Config:
    path = landing / "wow.yaml"
    raw: dict[str, Any] = {}
    if path.exists():
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        if loaded is not None:
            if not isinstance(loaded, dict):
                raise ValueError("wow.yaml must be a mapping")
            raw = {key: value for key, value in loaded.items() if value is not None}
    cfg = Config()
    tz_name = str(raw.get("default_timezone", cfg.default_timezone)).strip()
    ZoneInfo(tz_name)  # raises for an unknown zone
    threshold = _number(raw.get("idle_threshold_seconds", 300), "idle_threshold_seconds")
    grace = _number(raw.get("schedule_window_grace_minutes", 30), "schedule_window_grace_minutes")
    period = str(raw.get("period", "month")).strip().lower()
    if period not in ("month", "week"):
        raise ValueError(f"period must be month or week: {period!r}")
    return Config(
        default_timezone=tz_name,
        idle_threshold_us=int(threshold * US_PER_SECOND),
        workday_start=_clock(raw.get("workday_start", "07:00"), "workday_start"),
        workday_end=_clock(raw.get("workday_end", "17:30"), "workday_end"),
        grace_us=int(grace * US_PER_MINUTE),
        period=period,
    )


# --------------------------------------------------------------------------------------------
# Instants and wall clocks
# --------------------------------------------------------------------------------------------

def to_us(moment: datetime) -> int:
    """Microseconds since the epoch of an aware datetime."""
    return (moment - EPOCH) // timedelta(microseconds=1)


def from_us(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=us)


def local_wall(us: int, tz: ZoneInfo) -> datetime:
    return from_us(us).astimezone(tz).replace(tzinfo=None)


def local_date(us: int, tz: ZoneInfo) -> date:
    return from_us(us).astimezone(tz).date()


def wall_to_instant(wall: datetime, tz: ZoneInfo) -> int | None:
    """The instant of a naive local wall-clock time: the earlier one when it is ambiguous
    (fold=0), None when it does not exist (DST gap)."""
    candidate = wall.replace(tzinfo=tz, fold=0)
    us = to_us(candidate.astimezone(UTC))
    if local_wall(us, tz) != wall:
        return None
    return us


@cache
def wall_boundary(wall: datetime, tz: ZoneInfo) -> int:
    """The first instant at which the local clock reads `wall` or later (for boundaries): the
    earlier instant of an ambiguous time; the end of the gap for a time that does not exist."""
    us = wall_to_instant(wall, tz)
    if us is not None:
        return us
    # In a gap: fold=0 and fold=1 bracket the transition; bisect for the first instant whose
    # wall clock is >= wall.
    a = to_us(wall.replace(tzinfo=tz, fold=0).astimezone(UTC))
    b = to_us(wall.replace(tzinfo=tz, fold=1).astimezone(UTC))
    lo, hi = min(a, b), max(a, b)
    assert local_wall(lo, tz) < wall <= local_wall(hi, tz)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if local_wall(mid, tz) >= wall:
            hi = mid
        else:
            lo = mid
    return hi


def day_start(day: date, tz: ZoneInfo) -> int:
    return wall_boundary(datetime.combine(day, time(0, 0)), tz)


_TS_RE = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?"
    r"\s*(?:([Zz])|([+-])(\d{2})(?::?(\d{2}))?)?"
)


def parse_timestamp(text: str) -> tuple[datetime, timedelta | None] | None:
    """Parse an ISO-8601-like timestamp: (naive wall clock, offset or None), None if invalid."""
    match = _TS_RE.fullmatch(text.strip())
    if not match:
        return None
    year, month, day, hour, minute = (int(match[i]) for i in range(1, 6))
    second = int(match[6] or 0)
    micro = int((match[7] or "").ljust(6, "0")[:6] or 0)
    try:
        wall = datetime(year, month, day, hour, minute, second, micro)
    except ValueError:
        return None
    offset: timedelta | None = None
    if match[8]:
        offset = timedelta(0)
    elif match[9]:
        hours, minutes = int(match[10]), int(match[11] or 0)
        if hours > 23 or minutes > 59:
            return None
        offset = timedelta(hours=hours, minutes=minutes)
        if match[9] == "-":
            offset = -offset
    return wall, offset


def timestamp_to_instant(text: str, naive_tz: ZoneInfo) -> int | None:
    """An instant from a timestamp: an offset wins, a naive value is local time in naive_tz."""
    parsed = parse_timestamp(text)
    if parsed is None:
        return None
    wall, offset = parsed
    if offset is not None:
        return to_us(wall.replace(tzinfo=timezone(offset)))
    return wall_to_instant(wall, naive_tz)


def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError, OSError):
        return None


# --------------------------------------------------------------------------------------------
# CSV reading
# --------------------------------------------------------------------------------------------

@dataclass
class CsvTable:
    columns: dict[str, int]  # lower-cased, stripped header name -> position
    rows: list[list[str]]

    def value(self, row: list[str], name: str) -> str:
        index = self.columns.get(name.lower())
        return "" if index is None else row[index].strip()

    def has(self, name: str) -> bool:
        return name.lower() in self.columns


def read_csv(path: Path, required: list[str]) -> CsvTable | None:
    """All data rows of a CSV (optionally gzip) file, or None when the file is unreadable or lacks
    a required column. Rows whose field count differs from the header's are dropped."""
    try:
        raw = path.read_bytes()
        if path.name.endswith(".gz"):
            raw = gzip.decompress(raw)
        text = raw.decode("utf-8-sig")
        records = list(csv.reader(io.StringIO(text, newline="")))
    except (OSError, EOFError, zlib.error, gzip.BadGzipFile, UnicodeDecodeError, csv.Error):
        return None
    records = [r for r in records if r]  # csv yields [] for blank lines
    if not records:
        return None
    header = [name.strip().lower() for name in records[0]]
    columns = {name: i for i, name in enumerate(header)}
    if any(name.lower() not in columns for name in required):
        return None
    rows = [r for r in records[1:] if len(r) == len(header)]
    return CsvTable(columns, rows)


# --------------------------------------------------------------------------------------------
# Inputs (SPEC section 1)
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RosterEntry:
    department: str
    specialty: str | None
    role: str | None
    clinical_fte: Decimal | None
    timezone: str


@dataclass(frozen=True)
class Event:
    clinician_id: str
    instant: int
    action: str
    report_name: str
    patient_id: str
    workstation_id: str
    category: str
    is_prescription: bool
    source: tuple[str, int]  # (path under audit/, row index), for the dedup/tie order

    @property
    def dedup_key(self) -> tuple[str, int, str, str, str, str]:
        return (self.clinician_id, self.instant, self.action, self.report_name, self.patient_id,
                self.workstation_id)


@dataclass(frozen=True)
class Appointment:
    clinician_id: str
    appointment_id: str
    start: int
    end: int
    status: str


def load_action_map(landing: Path) -> dict[tuple[str, str, str], tuple[str, bool]]:
    mapping = _shipped_action_map()
    path = landing / "reference" / "category_map.csv"
    if not path.exists():
        return mapping
    table = read_csv(path, ["format", "action", "category"])
    if table is None:
        return mapping
    for row in table.rows:
        fmt = table.value(row, "format")
        action = table.value(row, "action")
        report = table.value(row, "report_name")
        category = table.value(row, "category").lower()
        presc_text = table.value(row, "is_prescription").lower()
        if not fmt or not action or category not in CATEGORIES:
            continue
        if presc_text in ("", "false"):
            presc = False
        elif presc_text == "true":
            presc = True
        else:
            continue
        mapping[(fmt, action, report)] = (category, presc)
    return mapping


def classify(mapping: dict[tuple[str, str, str], tuple[str, bool]], fmt: str, action: str,
             report_name: str, own_category: str) -> tuple[str, bool]:
    """SPEC 3 lookup order: own category, (format, action, report), (format, action, any),
    other. A prescription is only ever part of orders."""
    if own_category:
        return own_category, False
    found = None
    if report_name:
        found = mapping.get((fmt, action, report_name))
    if found is None:
        found = mapping.get((fmt, action, ""))
    if found is None:
        return "other", False
    category, presc = found
    return category, presc and category == "orders"


def _canonical_event(table: CsvTable, row: list[str], cfg: Config, mapping, source) -> Event | None:
    clinician = table.value(row, "clinician_id")
    action = table.value(row, "action")
    own = table.value(row, "category").lower()
    if not clinician or not action or (own and own not in CATEGORIES):
        return None
    instant = timestamp_to_instant(table.value(row, "event_time"), cfg.tz)
    if instant is None:
        return None
    category, presc = classify(mapping, "canonical", action, "", own)
    return Event(clinician, instant, action, "", table.value(row, "patient_id"),
                 table.value(row, "workstation_id"), category, presc, source)


def _epic_event(table: CsvTable, row: list[str], cfg: Config, mapping, source) -> Event | None:
    clinician = table.value(row, "USER_ID")
    action = table.value(row, "METRIC_NAME")
    if not clinician or not action:
        return None
    instant_text = table.value(row, "ACCESS_INSTANT")
    if instant_text:
        instant = timestamp_to_instant(instant_text, ZoneInfo("UTC"))
    else:
        local_text = table.value(row, "ACCESS_TIME")
        instant = timestamp_to_instant(local_text, cfg.tz) if local_text else None
    if instant is None:
        return None
    report = table.value(row, "REPORT_NAME")
    category, presc = classify(mapping, "epic_access_log", action, report, "")
    return Event(clinician, instant, action, report, table.value(row, "PAT_ID"),
                 table.value(row, "WORKSTATION_ID"), category, presc, source)


class _Format:
    def __init__(self, required: list[str], required_any: list[str], build):
        self.required = required
        self.required_any = required_any
        self.build = build


FORMATS = {
    "canonical": _Format(["clinician_id", "event_time", "action"], [], _canonical_event),
    "epic_access_log": _Format(["USER_ID", "METRIC_NAME"], ["ACCESS_INSTANT", "ACCESS_TIME"],
                               _epic_event),
}


def audit_files(landing: Path) -> list[tuple[str, str, Path]]:
    """(path relative to audit/, format, path) of every readable extract, in code-point order."""
    audit = landing / "audit"
    found = []
    if audit.is_dir():
        for fmt_dir in audit.iterdir():
            if not fmt_dir.is_dir() or fmt_dir.name not in FORMATS:
                continue
            for path in fmt_dir.rglob("*"):
                if path.is_file() and (path.name.endswith(".csv") or path.name.endswith(".csv.gz")):
                    found.append((path.relative_to(audit).as_posix(), fmt_dir.name, path))
    found.sort(key=lambda item: item[0])
    return found


def load_events(landing: Path, cfg: Config) -> list[Event]:
    """De-duplicated, non-excluded events of all audit files."""
    mapping = load_action_map(landing)
    seen: set[tuple] = set()
    events: list[Event] = []
    for rel, fmt_name, path in audit_files(landing):
        fmt = FORMATS[fmt_name]
        table = read_csv(path, fmt.required)
        if table is None:
            continue
        if fmt.required_any and not any(table.has(c) for c in fmt.required_any):
            continue
        for index, row in enumerate(table.rows):
            event = fmt.build(table, row, cfg, mapping, (rel, index))
            if event is None or event.dedup_key in seen:
                continue
            seen.add(event.dedup_key)
            events.append(event)
    return [e for e in events if e.category != "exclude"]


def load_roster(landing: Path, cfg: Config) -> dict[str, RosterEntry]:
    path = landing / "reference" / "roster.csv"
    roster: dict[str, RosterEntry] = {}
    table = read_csv(path, ["clinician_id"]) if path.exists() else None
    if table is None:
        return roster
    for row in table.rows:
        clinician = table.value(row, "clinician_id")
        if not clinician:
            continue
        fte_text = table.value(row, "clinical_fte")
        fte: Decimal | None = None
        if fte_text:
            try:
                fte = Decimal(fte_text)
            except InvalidOperation:
                continue
            if not fte.is_finite() or not (0 < fte <= Decimal("1.5")):
                continue
        tz_name = table.value(row, "timezone") or cfg.default_timezone
        if _zone(tz_name) is None:
            continue
        roster[clinician] = RosterEntry(
            department=table.value(row, "department") or "unknown",
            specialty=table.value(row, "specialty") or None,
            role=table.value(row, "role") or None,
            clinical_fte=fte,
            timezone=tz_name,
        )
    return roster


def load_schedule(landing: Path, cfg: Config, zone_of) -> list[Appointment]:
    """Non-canceled appointments after replacement by appointment_id (last file in name order,
    then later line, wins)."""
    folder = landing / "reference" / "schedule"
    latest: dict[str, Appointment] = {}
    files = sorted(folder.glob("*.csv"), key=lambda p: p.name) if folder.is_dir() else []
    required = ["clinician_id", "appointment_id", "start_time", "duration_minutes", "status"]
    for path in files:
        table = read_csv(path, required)
        if table is None:
            continue
        for row in table.rows:
            clinician = table.value(row, "clinician_id")
            appointment = table.value(row, "appointment_id")
            status = table.value(row, "status").lower()
            if not clinician or not appointment or status not in STATUSES:
                continue
            try:
                duration = Decimal(table.value(row, "duration_minutes"))
            except InvalidOperation:
                continue
            if not duration.is_finite() or duration <= 0:
                continue
            start = timestamp_to_instant(table.value(row, "start_time"), zone_of(clinician))
            if start is None:
                continue
            end = start + int((duration * US_PER_MINUTE).to_integral_value())
            latest[appointment] = Appointment(clinician, appointment, start, end, status)
    return [a for a in latest.values() if a.status != "canceled"]


def load_holidays(landing: Path) -> set[date]:
    path = landing / "reference" / "holidays.csv"
    table = read_csv(path, ["date"]) if path.exists() else None
    holidays: set[date] = set()
    for row in table.rows if table else []:
        text = table.value(row, "date")
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            try:
                holidays.add(date.fromisoformat(text))
            except ValueError:
                pass
    return holidays


# --------------------------------------------------------------------------------------------
# Timeline and day attribution (SPEC sections 4 and 5)
# --------------------------------------------------------------------------------------------

def active_intervals(events: list[Event], threshold_us: int) -> list[tuple[int, int, Event]]:
    """[t(i), t(i+1)) credited to e(i) when the gap is <= the threshold (SPEC 4)."""
    ordered = sorted(events, key=lambda e: (e.instant, e.action, e.workstation_id, e.report_name,
                                            e.patient_id, e.source))
    intervals = []
    for current, following in zip(ordered, ordered[1:], strict=False):
        gap = following.instant - current.instant
        if 0 < gap <= threshold_us:
            intervals.append((current.instant, following.instant, current))
    return intervals


def merge_intervals(intervals: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[list[int]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(s, e) for s, e in merged]


class SortedIntervals:
    """Disjoint, sorted intervals; measures their overlap with [a, b)."""

    def __init__(self, intervals: list[tuple[int, int]]):
        self.starts = [s for s, _ in intervals]
        self.ends = [e for _, e in intervals]

    def overlap(self, a: int, b: int) -> int:
        total = 0
        i = bisect_right(self.ends, a)
        while i < len(self.starts) and self.starts[i] < b:
            total += max(0, min(b, self.ends[i]) - max(a, self.starts[i]))
            i += 1
        return total


def overlap(a: int, b: int, c: int, d: int) -> int:
    return max(0, min(b, d) - max(a, c))


def split_by_date(a: int, b: int, tz: ZoneInfo):
    """Yield (local date, piece start, piece end) of [a, b) cut at local midnights."""
    day = local_date(a, tz)
    assert day_start(day, tz) <= a < day_start(day + timedelta(days=1), tz)
    while a < b:
        end = min(b, day_start(day + timedelta(days=1), tz))
        if end > a:
            yield day, a, end
        a = end
        day += timedelta(days=1)


@dataclass
class DayAcc:
    events: int = 0
    appointments: int = 0
    scheduled_us: int = 0
    ehr_us: int = 0
    category_us: dict[str, int] = field(default_factory=lambda: dict.fromkeys(MEASURED_CATEGORIES, 0))
    prescriptions_us: int = 0
    in_schedule_us: int = 0
    outside_window_us: int = 0
    pajama_us: int = 0


def clinician_days(events: list[Event], appointments: list[Appointment], tz: ZoneInfo,
                   holidays: set[date], cfg: Config) -> dict[date, DayAcc]:
    days: dict[date, DayAcc] = defaultdict(DayAcc)
    has_row: set[date] = set()

    for event in events:
        day = local_date(event.instant, tz)
        days[day].events += 1
        has_row.add(day)

    # Scheduled time: the union of appointments, cut at local midnight.
    scheduled = merge_intervals([(a.start, a.end) for a in appointments])
    for start, end in scheduled:
        for day, a, b in split_by_date(start, end, tz):
            days[day].scheduled_us += b - a
            has_row.add(day)
    scheduled_set = SortedIntervals(scheduled)

    # Appointments and schedule windows by the local date of their start.
    windows: dict[date, tuple[int, int]] = {}
    for appt in appointments:
        day = local_date(appt.start, tz)
        days[day].appointments += 1
        lo, hi = windows.get(day, (appt.start, appt.end))
        windows[day] = (min(lo, appt.start), max(hi, appt.end))
    windows = {d: (lo - cfg.grace_us, hi + cfg.grace_us) for d, (lo, hi) in windows.items()}

    for start, end, event in active_intervals(events, cfg.idle_threshold_us):
        for day, a, b in split_by_date(start, end, tz):
            length = b - a
            acc = days[day]
            acc.ehr_us += length
            acc.category_us[event.category] += length
            if event.is_prescription:
                acc.prescriptions_us += length
            acc.in_schedule_us += scheduled_set.overlap(a, b)
            window = windows.get(day)
            acc.outside_window_us += length - (overlap(a, b, *window) if window else 0)
            if day.weekday() >= 5 or day in holidays:
                acc.pajama_us += length
            else:
                work_start = wall_boundary(datetime.combine(day, cfg.workday_start), tz)
                work_end = wall_boundary(datetime.combine(day, cfg.workday_end), tz)
                acc.pajama_us += length - overlap(a, b, work_start, work_end)

    return {d: days[d] for d in sorted(has_row)}


def _minutes(us: int) -> float:
    return us / US_PER_MINUTE


def day_row(clinician: str, day: date, acc: DayAcc, holidays: set[date]) -> dict[str, Any]:
    return {
        "clinician_id": clinician,
        "activity_date": day,
        "events": acc.events,
        "appointments": acc.appointments,
        "scheduled_minutes": _minutes(acc.scheduled_us),
        "ehr_minutes": _minutes(acc.ehr_us),
        "inbox_minutes": _minutes(acc.category_us["inbox"]),
        "notes_minutes": _minutes(acc.category_us["notes"]),
        "orders_minutes": _minutes(acc.category_us["orders"]),
        "chart_review_minutes": _minutes(acc.category_us["chart_review"]),
        "other_minutes": _minutes(acc.category_us["other"]),
        "prescriptions_minutes": _minutes(acc.prescriptions_us),
        "in_schedule_minutes": _minutes(acc.in_schedule_us),
        "wow_minutes": _minutes(acc.ehr_us - acc.in_schedule_us),
        "outside_schedule_window_minutes": _minutes(acc.outside_window_us),
        "unscheduled_day_minutes": _minutes(acc.ehr_us if acc.appointments == 0 else 0),
        "pajama_minutes": _minutes(acc.pajama_us),
        "is_holiday": day in holidays,
        "is_weekend": day.weekday() >= 5,
    }


# Day columns in microseconds, by stem, for period sums.
def _day_us(acc: DayAcc) -> dict[str, int]:
    return {
        "scheduled": acc.scheduled_us,
        "ehr": acc.ehr_us,
        "inbox": acc.category_us["inbox"],
        "notes": acc.category_us["notes"],
        "orders": acc.category_us["orders"],
        "chart_review": acc.category_us["chart_review"],
        "other": acc.category_us["other"],
        "prescriptions": acc.prescriptions_us,
        "in_schedule": acc.in_schedule_us,
        "wow": acc.ehr_us - acc.in_schedule_us,
        "outside_schedule_window": acc.outside_window_us,
        "unscheduled_day": acc.ehr_us if acc.appointments == 0 else 0,
        "pajama": acc.pajama_us,
    }


STEMS = ("scheduled", "ehr", "inbox", "notes", "orders", "chart_review", "other", "prescriptions",
         "in_schedule", "wow", "outside_schedule_window", "unscheduled_day", "pajama")


# --------------------------------------------------------------------------------------------
# Periods (SPEC section 6)
# --------------------------------------------------------------------------------------------

def period_of(day: date, period: str) -> tuple[date, int]:
    """(period_start, period_days) of a local date."""
    if period == "week":
        return day - timedelta(days=day.weekday()), 7
    start = day.replace(day=1)
    following = (start + timedelta(days=32)).replace(day=1)
    return start, (following - start).days


def _ratio(numerator: Fraction, denominator: Fraction) -> float | None:
    return None if denominator == 0 else float(numerator / denominator)


def period_row(clinician: str, roster: RosterEntry | None, tz_name: str, start: date,
               period_days: int, days: list[DayAcc], coverage_days: int) -> dict[str, Any]:
    totals = {stem: sum(_day_us(acc)[stem] for acc in days) for stem in STEMS}
    hours = {stem: Fraction(us, US_PER_HOUR) for stem, us in totals.items()}
    scheduled_days = sum(1 for acc in days if acc.appointments > 0)
    fte = Fraction(roster.clinical_fte) if roster and roster.clinical_fte is not None else None
    row: dict[str, Any] = {
        "clinician_id": clinician,
        "department": roster.department if roster else "unknown",
        "specialty": roster.specialty if roster else None,
        "role": roster.role if roster else None,
        "clinical_fte": float(fte) if fte is not None else None,
        "timezone": tz_name,
        "period_start": start,
        "period_days": period_days,
        "coverage_days": coverage_days,
        "is_complete_period": coverage_days == period_days,
        "days_active": sum(1 for acc in days if acc.ehr_us > 0),
        "scheduled_days": scheduled_days,
        "appointments": sum(acc.appointments for acc in days),
        "scheduled_hours": float(hours["scheduled"]),
        "events": sum(acc.events for acc in days),
    }
    for stem in STEMS:
        row[f"{stem}_hours"] = float(hours[stem])
    sched = hours["scheduled"]
    for name, stem in (("ehr_time8", "ehr"), ("wow8", "wow"), ("ib_time8", "inbox"),
                       ("note_time8", "notes"), ("presc_time8", "prescriptions"),
                       ("order_time8", "orders"), ("pajama_time8", "pajama")):
        row[name] = _ratio(hours[stem] * 8, sched)
    for stem in ("ehr", "wow", "pajama", "inbox", "notes"):
        row[f"{stem}_hours_per_fte_week"] = (
            None if fte is None else _ratio(hours[stem], fte * Fraction(coverage_days, 7)))
    for stem in ("ehr", "pajama", "inbox", "notes", "outside_schedule_window"):
        row[f"{stem}_minutes_per_sched_day"] = _ratio(
            Fraction(totals[stem], US_PER_MINUTE), Fraction(scheduled_days))
    row["undivided_attention_pct"] = (
        None if sched == 0 else float(100 * (1 - hours["in_schedule"] / sched)))
    return row


# --------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------

def compute(landing: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(day_rows, period_rows) of a landing zone, sorted by clinician_id then date."""
    landing = Path(landing)
    cfg = load_config(landing)
    roster = load_roster(landing, cfg)

    def zone_name(clinician: str) -> str:
        entry = roster.get(clinician)
        return entry.timezone if entry else cfg.default_timezone

    def zone_of(clinician: str) -> ZoneInfo:
        return ZoneInfo(zone_name(clinician))

    events = load_events(landing, cfg)
    appointments = load_schedule(landing, cfg, zone_of)
    holidays = load_holidays(landing)

    events_by: dict[str, list[Event]] = defaultdict(list)
    for event in events:
        events_by[event.clinician_id].append(event)
    appts_by: dict[str, list[Appointment]] = defaultdict(list)
    for appt in appointments:
        appts_by[appt.clinician_id].append(appt)

    day_rows: list[dict[str, Any]] = []
    period_rows: list[dict[str, Any]] = []
    clinicians = sorted(set(events_by) | set(appts_by))
    days_of = {c: clinician_days(events_by[c], appts_by[c], zone_of(c), holidays, cfg)
               for c in clinicians}
    first, last = coverage(days_of.values())
    for clinician in clinicians:
        days = days_of[clinician]
        by_period: dict[tuple[date, int], list[DayAcc]] = defaultdict(list)
        for day, acc in days.items():
            day_rows.append(day_row(clinician, day, acc, holidays))
            by_period[period_of(day, cfg.period)].append(acc)
        for (start, period_days), accs in sorted(by_period.items()):
            covered = covered_days(start, period_days, first, last)
            period_rows.append(period_row(clinician, roster.get(clinician), zone_name(clinician),
                                          start, period_days, accs, covered))
    return day_rows, period_rows


def coverage(days_of: Any) -> tuple[date | None, date | None]:
    """The organisation's coverage (SPEC 6): the earliest and latest local date on which any
    clinician has an event; (None, None) without events."""
    dates = [day for days in days_of for day, acc in days.items() if acc.events > 0]
    return (min(dates), max(dates)) if dates else (None, None)


def covered_days(start: date, period_days: int, first: date | None, last: date | None) -> int:
    """How many of the period's dates lie within [first, last]."""
    if first is None or last is None:
        return 0
    end = start + timedelta(days=period_days - 1)
    lo, hi = max(start, first), min(end, last)
    return max(0, (hi - lo).days + 1)
