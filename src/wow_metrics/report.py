"""A run's summary and a published warehouse's headline figures, for `wow run`, `wow demo` and
the nightly flow's log and artifacts."""

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


def format_summary(summary) -> str:
    """A short, human summary of a run."""
    ing = summary.ingest
    lines = [
        f"wow run {summary.run_id}: published {summary.warehouse / 'wow.duckdb'} "
        f"in {summary.seconds:.1f}s",
        f"  extracts: {ing.files_seen} seen, {ing.files_ingested} ingested, "
        f"{ing.files_skipped} already ingested, {ing.files_quarantined} quarantined whole",
        f"  extract rows this run: {ing.rows_read:,} read, {ing.rows_written:,} loaded, "
        f"{ing.rows_quarantined:,} quarantined",
        reference_line(summary),
        f"  events on timelines: {summary.events_on_timeline:,}; clinicians: {summary.clinicians}; "
        f"clinician-days: {summary.day_rows:,}; clinician-periods: {summary.period_rows:,}",
        f"  quarantine table: {summary.rows_quarantined_total:,} row(s) in all "
        "(select * from quarantine)",
        coverage_line(summary),
        f"  build: {summary.build} ({summary.partitions} task(s); {summary.partitions_reason})",
        f"  validation: {summary.expectations_run} checks run, no critical failure; "
        f"{summary.events_validated:,} new lake events checked; "
        f"report {summary.warehouse / 'docs' / 'index.html'}",
        "  phases: " + ", ".join(f"{k} {v:.2f}s" for k, v in summary.phase_seconds.items()),
    ]
    for warning in summary.warnings[:10]:
        lines.append(f"  warning: {warning}")
    return "\n".join(lines)


def demo_report(warehouse: Path) -> str:
    """Headline figures from a published warehouse and where to look next."""
    db = warehouse / "wow.duckdb"
    headline = headline_medians(warehouse)
    period = headline.period_start
    header = f"{'department':<22}{'n':>3}{'EHR-Time8':>11}{'WOW8':>8}{'IB-Time8':>10}" \
             f"{'Pajama8':>9}{'WOW h/FTE-wk':>14}"
    out = [""]
    org = headline.organisation

    def fmt(v, width):
        return f"{v:>{width}.2f}" if v is not None else f"{'-':>{width}}"

    if org and not org["is_suppressed"]:
        change = org["wow8_median_change"]
        out += [f"Organisation, period starting {period} ({headline.coverage}), "
                f"{org['n_clinicians']} eligible clinicians (efficiency_of_practice_by_period):",
                f"  median WOW per 8 scheduled hours {org['wow8_median']:.2f} h"
                + (f" ({change:+.2f} vs the previous period)" if change is not None else
                   " (no change shown: changes are computed only between complete periods)"
                   if not org["is_complete_period"] else ""),
                f"  median EHR time per 8 scheduled hours {org['ehr_time8_median']:.2f} h",
                f"  clinicians with WOW over {org['wow_threshold_hours_per_fte_week']:g} h per "
                f"FTE week: {org['pct_clinicians_wow_over_threshold']:.0f}%", ""]
    out += [f"Medians per department, period starting {period} (hours per 8 scheduled hours; "
            "WOW hours per clinical-FTE week); '-' = suppressed, fewer than min_cell_size "
            "eligible clinicians:", header]
    for r in headline.rows:
        out.append(f"{r['department'][:21]:<22}{r['clinicians']:>3}{fmt(r['ehr_time8'], 11)}"
                   f"{fmt(r['wow8'], 8)}{fmt(r['ib_time8'], 10)}{fmt(r['pajama_time8'], 9)}"
                   f"{fmt(r['wow_hours_per_fte_week'], 14)}")
    out += [
        "",
        "Where to look next:",
        f"  dashboard (open in a browser, works offline): {warehouse / 'dashboard' / 'index.html'}",
        f"  leadership exports (rollups only): {warehouse / 'exports'}/",
        f"  query it read-only: .venv/bin/wow query \"from ehr_time_by_department_period\" "
        f"--warehouse {warehouse}   (or .venv/bin/wow shell)",
        "  tables: ehr_time_by_clinician_day, ehr_time_by_clinician_period, "
        "ehr_time_by_department_period, efficiency_of_practice_by_period, coverage_by_date, "
        "ingest_manifest, "
        "quarantine, metric_definitions, validation_results",
        "  definitions: docs/metrics.md, schemas/contracts/ and the metric_definitions table",
        f"  validation report (with GX Data Docs): {Path(db).parent / 'docs' / 'index.html'}",
    ]
    return "\n".join(out)
