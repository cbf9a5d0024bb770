"""Headline figures of a published warehouse, for `wow demo` and the nightly flow's artifacts."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

HEADLINE_METRICS = ("ehr_time8", "wow8", "ib_time8", "pajama_time8", "wow_hours_per_fte_week")

# The latest period with scheduled time: the newest month is often a few days old and unscheduled.
HEADLINE_SQL = """
    select department, count(*) as clinicians,
           median(ehr_time8) as ehr_time8, median(wow8) as wow8,
           median(ib_time8) as ib_time8, median(pajama_time8) as pajama_time8,
           median(wow_hours_per_fte_week) as wow_hours_per_fte_week
    from ehr_time_by_clinician_period
    where period_start = (select max(period_start) from ehr_time_by_clinician_period
                          where scheduled_hours > 0)
    group by department order by department
"""
LATEST_PERIOD_SQL = """
    select max(period_start) from ehr_time_by_clinician_period where scheduled_hours > 0
"""


@dataclass
class HeadlineMedians:
    """Medians per department over the clinicians of the latest period with scheduled time."""

    period_start: dt.date | None
    # department, clinicians, then one median per HEADLINE_METRICS (None when no clinician has it)
    rows: list[dict[str, object]] = field(default_factory=list)


def headline_medians(warehouse: Path | str) -> HeadlineMedians:
    """Read the latest period's headline medians per department from <warehouse>/wow.duckdb."""
    import duckdb

    db = Path(warehouse) / "wow.duckdb"
    with duckdb.connect(str(db), read_only=True) as con:
        cur = con.execute(HEADLINE_SQL)
        names = [d[0] for d in cur.description]
        rows = [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
        period = con.execute(LATEST_PERIOD_SQL).fetchone()[0]
    return HeadlineMedians(period, rows)


def suppress_small_cells(headline: HeadlineMedians, min_cell_size: int) -> HeadlineMedians:
    """Blank the medians of departments with fewer than min_cell_size clinicians (SPEC 7)."""
    rows = []
    for row in headline.rows:
        small = int(row["clinicians"]) < min_cell_size
        rows.append({**row, **({m: None for m in HEADLINE_METRICS} if small else {}),
                     "is_suppressed": small})
    return HeadlineMedians(headline.period_start, rows)
