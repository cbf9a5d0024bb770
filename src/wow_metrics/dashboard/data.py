"""Reading the publication: what the page shows, from <warehouse>/wow.duckdb opened
read-only (rollups and sums only), and the rejection reasons counted by kind, without their
values."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wow_metrics.config import MIN_CELL_SIZE_FLOOR, Settings

CATEGORY_SQL = """
    select period_start, count(*) as n_clinicians, sum(scheduled_hours) as scheduled_hours,
           sum(ehr_hours) as ehr_hours, sum(inbox_hours) as inbox_hours,
           sum(notes_hours) as notes_hours, sum(orders_hours) as orders_hours,
           sum(chart_review_hours) as chart_review_hours, sum(other_hours) as other_hours
    from ehr_time_by_clinician_period
    where scheduled_hours >= $min_scheduled_hours
    group by period_start
    order by period_start
"""


@dataclass
class _Data:
    """What the page shows, read from one publication (rollups and sums only)."""

    org: list[dict[str, Any]] = field(default_factory=list)
    departments: list[dict[str, Any]] = field(default_factory=list)
    categories: list[dict[str, Any]] = field(default_factory=list)
    definitions: list[dict[str, Any]] = field(default_factory=list)
    run_id: str | None = None
    published_at: dt.datetime | None = None
    settings: dict[str, str | None] = field(default_factory=dict)
    # The organisation's coverage: first and last date with an event, and the dates between
    # them without a single event (missed extracts)
    first_date: dt.date | None = None
    last_date: dt.date | None = None
    gap_dates: list[dt.date] = field(default_factory=list)
    # Data quality, counts only: files with rejected rows or rejected whole, rejected rows by
    # file and kind of reason, clinicians measured without a roster department by cause
    problem_files: list[dict[str, Any]] = field(default_factory=list)
    rejected_rows: list[dict[str, Any]] = field(default_factory=list)
    unrostered: dict[str, int] = field(default_factory=dict)
    warnings: list[dict[str, Any]] = field(default_factory=list)

    def setting(self, name: str) -> Any:
        default = getattr(Settings(), name)
        value = self.settings.get(name)
        if value is None:
            return default
        try:
            return type(default)(float(value)) if isinstance(default, int | float) else value
        except ValueError:
            return default

    @property
    def min_cell_size(self) -> int:
        return max(int(self.setting("min_cell_size")), MIN_CELL_SIZE_FLOOR)

    @property
    def weekly(self) -> bool:
        if "period" in self.settings:
            return self.settings["period"] == "week"
        return bool(self.org) and all(r.get("period_days") == 7 for r in self.org)

    @property
    def suppressed_text(self) -> str:
        return f"suppressed (fewer than {self.min_cell_size} clinicians)"


def _load(db: Path) -> _Data:
    import duckdb

    data = _Data()
    with duckdb.connect(str(db), read_only=True) as con:
        tables = {r[0] for r in con.execute(
            "select table_name from duckdb_tables() where database_name = current_database() "
            "and schema_name = 'main'").fetchall()}

        def rows(table: str, sql: str, params: dict | None = None) -> list[dict[str, Any]]:
            if table not in tables:
                return []
            cur = con.execute(sql, params or {})
            names = [d[0] for d in cur.description]
            return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]

        data.definitions = rows(
            "metric_definitions",
            "select kind, name, value, unit, definition, run_id from metric_definitions "
            "order by kind = 'metric', rowid")
        data.settings = {r["name"]: r["value"] for r in data.definitions if r["kind"] == "setting"}
        data.run_id = next((r["run_id"] for r in data.definitions if r["run_id"]), None)
        data.org = rows("efficiency_of_practice_by_period",
                        "select * from efficiency_of_practice_by_period order by period_start")
        data.departments = rows(
            "ehr_time_by_department_period",
            "select * from ehr_time_by_department_period order by department, period_start")
        data.categories = rows("ehr_time_by_clinician_period", CATEGORY_SQL,
                               {"min_scheduled_hours": float(data.setting("min_scheduled_hours"))})
        coverage = rows("coverage_by_date",
                        "select min(activity_date) as first_date, max(activity_date) as last_date, "
                        "list(activity_date order by activity_date) filter (where is_gap) as gaps "
                        "from coverage_by_date")
        if coverage:
            data.first_date, data.last_date = coverage[0]["first_date"], coverage[0]["last_date"]
            data.gap_dates = list(coverage[0]["gaps"] or [])
        data.problem_files = rows(
            "ingest_manifest",
            "select file_path, file_kind, status, rows_read, rows_quarantined, message "
            "from ingest_manifest where status = 'quarantined' or rows_quarantined > 0 "
            "order by file_kind <> 'audit_extract', file_path")
        rejected = rows("quarantine", "select source_file, reason, count(*) as n_rows "
                        "from quarantine where source_line is not null group by all")
        data.rejected_rows = _by_reason_kind(rejected)
        data.unrostered = _unrostered_causes(rows(
            "ehr_time_by_clinician_period",
            UNROSTERED_SQL if {"quarantine"} <= tables else
            "select distinct clinician_id, 'no roster row' as cause "
            "from ehr_time_by_clinician_period where department = 'unknown'"))
        data.warnings = rows(
            "validation_results",
            "select table_name, check_name, failing_rows from validation_results "
            "where not success order by table_name, check_name")
        checked = rows("validation_results",
                       "select max(checked_at) as at from validation_results")
        data.published_at = checked[0]["at"] if checked else None
    if data.published_at is None:
        data.published_at = _time_of_run(data.run_id) or dt.datetime.fromtimestamp(
            db.stat().st_mtime, tz=dt.UTC)
    return data


# A clinician measured with department 'unknown', and why (counted, never listed, on the page).
UNROSTERED_SQL = """
    select distinct p.clinician_id,
           case when q.clinician_id is not null then 'roster row rejected'
                when p.clinical_fte is not null or p.specialty is not null
                    then 'roster row without a department'
                else 'no roster row' end as cause
    from ehr_time_by_clinician_period p
    left join (select distinct clinician_id from quarantine
               where source_file = 'reference/roster.csv') q using (clinician_id)
    where p.department = 'unknown'
"""

# How a rejection reason reads without the rejected value: (pattern, replacement), in order.
REASON_KINDS = (
    (re.compile(r"^file quarantined: (.*?)(?: \(.*|: .*)?$", re.S), r"file rejected whole: \1"),
    (re.compile(r" \(value [^)]*\)"), ""),
    (re.compile(r"^unparseable (\w+) .*$", re.S), r"unparseable \1"),
    (re.compile(r"^(\w+) .* out of range (.*)$", re.S), r"\1 out of range \2"),
    (re.compile(r"^unknown (time zone|status|category) .*$", re.S), r"unknown \1"),
    (re.compile(r"^(\w+) .* does not exist in .*\(DST gap\)$", re.S), r"\1 in a DST gap"),
    (re.compile(r"^(is_prescription must be true or false).*$", re.S), r"\1"),
)


def reason_kind(reason: str) -> str:
    """A rejection reason without the rejected value ('unparseable start_time 3/2/2026 8:00 AM'
    -> 'unparseable start_time'), so the page counts kinds and shows no data values."""
    text = " ".join(str(reason).split())
    for pattern, replacement in REASON_KINDS:
        text = pattern.sub(replacement, text)
    text = text.strip()
    return text if len(text) <= 120 else text[:119] + "\u2026"


def _by_reason_kind(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    counts: dict[tuple[str, str], int] = {}
    for r in rows:
        key = (r["source_file"], reason_kind(r["reason"]))
        counts[key] = counts.get(key, 0) + int(r["n_rows"])
    return [{"source_file": f, "reason": k, "n_rows": n}
            for (f, k), n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]


def _unrostered_causes(rows: list[dict[str, Any]]) -> dict[str, int]:
    causes: dict[str, int] = {}
    for r in rows:
        causes[r["cause"]] = causes.get(r["cause"], 0) + 1
    return dict(sorted(causes.items()))


def _time_of_run(run_id: str | None) -> dt.datetime | None:
    """A run id starts with its UTC start time, e.g. 20261123T135915Z-91c02e86."""
    try:
        return dt.datetime.strptime((run_id or "")[:16], "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
    except ValueError:
        return None


def _latest(data: _Data) -> dict[str, Any] | None:
    """The latest period with EHR data and eligible clinicians (the newest month is often a
    few days old and unscheduled, and a schedule may run ahead of the data), else the latest
    period with data, else the latest period."""
    with_data = [r for r in data.org if (r.get("coverage_days") or 0) > 0]
    with_clinicians = [r for r in with_data if (r.get("n_clinicians") or 0) > 0]
    if with_clinicians:
        return with_clinicians[-1]
    if with_data:
        return with_data[-1]
    return data.org[-1] if data.org else None
