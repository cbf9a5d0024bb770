"""Headline figures of a published warehouse, for `wow demo` and the nightly flow's artifacts."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

HEADLINE_METRICS = ("ehr_time8", "wow8", "ib_time8", "pajama_time8", "wow_hours_per_fte_week")

# The latest period with eligible clinicians: the newest month is often a few days old and
# unscheduled. Figures come from the published rollup, already suppressed under min_cell_size.
HEADLINE_SQL = """
    select department, n_clinicians as clinicians,
           ehr_time8_median as ehr_time8, wow8_median as wow8, ib_time8_median as ib_time8,
           pajama_time8_median as pajama_time8,
           wow_hours_per_fte_week_median as wow_hours_per_fte_week, is_suppressed
    from ehr_time_by_department_period
    where period_start = $latest
    order by department
"""
LATEST_PERIOD_SQL = """
    select max(period_start) from efficiency_of_practice_by_period
    where n_clinicians > 0 and coverage_days > 0
"""
ORGANISATION_SQL = """
    select * from efficiency_of_practice_by_period where period_start = $latest
"""


@dataclass
class HeadlineMedians:
    """Medians per department over the eligible clinicians of the latest period that has any."""

    period_start: dt.date | None
    # department, clinicians (eligible), one median per HEADLINE_METRICS (None when suppressed
    # or no clinician has it), is_suppressed
    rows: list[dict[str, object]] = field(default_factory=list)
    organisation: dict[str, object] | None = None  # the efficiency_of_practice_by_period row

    @property
    def coverage(self) -> str:
        """'complete', or 'partial: data through <date>' (the dashboard's wording)."""
        if not self.organisation:
            return "no data"
        from wow_metrics.dashboard import coverage_text

        return coverage_text(self.organisation)


def headline_medians(warehouse: Path | str) -> HeadlineMedians:
    """Read the latest period's headline medians per department from <warehouse>/wow.duckdb."""
    import duckdb

    db = Path(warehouse) / "wow.duckdb"
    with duckdb.connect(str(db), read_only=True) as con:
        period = con.execute(LATEST_PERIOD_SQL).fetchall()[0][0]
        rows = _records(con.execute(HEADLINE_SQL, {"latest": period}))
        org = _records(con.execute(ORGANISATION_SQL, {"latest": period}))
    return HeadlineMedians(period, rows, org[0] if org else None)


def _records(cur) -> list[dict[str, object]]:
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def suppress_small_cells(headline: HeadlineMedians, min_cell_size: int) -> HeadlineMedians:
    """Blank the medians of small departments (SPEC 7); the published rollup already does, this
    guards artifacts that leave the warehouse against a smaller min_cell_size, and never
    against less than the floor (config.MIN_CELL_SIZE_FLOOR)."""
    from wow_metrics.config import MIN_CELL_SIZE_FLOOR

    min_cell_size = max(min_cell_size, MIN_CELL_SIZE_FLOOR)
    rows = []
    for row in headline.rows:
        small = bool(row.get("is_suppressed")) or int(row["clinicians"]) < min_cell_size
        rows.append({**row, **({m: None for m in HEADLINE_METRICS} if small else {}),
                     "is_suppressed": small})
    return HeadlineMedians(headline.period_start, rows, headline.organisation)


def reference_line(summary) -> str:
    """Reference files read, those quarantined whole, and rejected rows by file."""
    files = summary.reference_files
    whole = summary.reference_files_quarantined
    text = (f"  reference files: {len(files)} read, {len(whole)} quarantined whole"
            f"{' (' + ', '.join(whole) + ')' if whole else ''}; "
            f"{summary.reference_rows_quarantined:,} row(s) quarantined")
    rejected = [f for f in files if f["rows_quarantined"]]
    if rejected:
        text += ": " + ", ".join(f"{f['file_path']} {f['rows_quarantined']:,} of "
                                 f"{f['rows_read']:,}" for f in rejected[:5])
        if len(rejected) > 5:
            text += f", and {len(rejected) - 5} more file(s)"
    return text


def coverage_line(summary) -> str:
    """The data's first and last day, and the days without any event between them."""
    if summary.coverage is None:
        return "  data: no events"
    first, last = summary.coverage
    text = f"  data: {first} to {last}"
    if summary.gap_dates:
        shown = ", ".join(str(d) for d in summary.gap_dates[:5])
        more = f" and {len(summary.gap_dates) - 5} more" if len(summary.gap_dates) > 5 else ""
        text += (f"; {len(summary.gap_dates)} day(s) without a single event (a missed "
                 f"extract?): {shown}{more}")
    return text
