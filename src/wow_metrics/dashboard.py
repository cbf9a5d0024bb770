"""The leadership dashboard: one static, offline HTML page over the published warehouse.

`build_dashboard(warehouse)` reads <warehouse>/wow.duckdb read-only and writes
<warehouse>/dashboard/index.html: the organisation's work-outside-of-work (WOW) story for a
well-being office lead or CMIO, in plain language. Rollups only: the page shows organisation and
department figures (department cells under min_cell_size eligible clinicians stay suppressed, as
published) and organisation sums of EHR time by category, never a clinician-level row, a
clinician_id or a patient key. Plotly.js is inlined once in the page head, so the file opens from
disk with no server and no network.
"""

from __future__ import annotations

import datetime as dt
import html
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wow_metrics.config import MIN_CELL_SIZE_FLOOR, Settings
from wow_metrics.state import OPERATIONAL_SETTINGS

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


def build_dashboard(warehouse: Path | str) -> Path:
    """Write <warehouse>/dashboard/index.html from the published wow.duckdb; return its path.

    The page is written to a temporary file and renamed into place, so a reader never sees
    half a page.
    """
    warehouse = Path(warehouse)
    db = warehouse / "wow.duckdb"
    if not db.exists():
        raise FileNotFoundError(f"no published warehouse at {db}: run `wow run` first")
    data = _load(db)
    page = render_page(data)
    folder = warehouse / "dashboard"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "index.html"
    tmp = folder / f".index.html.{os.getpid()}.tmp"
    try:
        tmp.write_text(page, encoding="utf-8")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


# --------------------------------------------------------------------------------------------
# Reading the publication


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


# --------------------------------------------------------------------------------------------
# Formatting


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


# --------------------------------------------------------------------------------------------
# Charts (Plotly figure specs; rendered in the page by the inlined plotly.js)


def _base_layout(height: int) -> dict[str, Any]:
    return {
        "height": height,
        "margin": {"l": 70, "r": 30, "t": 60, "b": 60},
        "font": {"family": FONT, "size": 13, "color": "#212529"},
        "paper_bgcolor": "white",
        "plot_bgcolor": "white",
        "hoverlabel": {"font": {"family": FONT}},
        "legend": {"orientation": "h", "yanchor": "top", "y": -0.14, "xanchor": "left", "x": 0},
    }


def _no_data(fig, text: str) -> None:
    fig.add_annotation(text=text, xref="paper", yref="paper", x=0.5, y=0.5, showarrow=False,
                       font={"size": 15, "color": "#868e96"})


def _trend_figure(data: _Data):
    from plotly.subplots import make_subplots

    weekly = data.weekly
    labels = [_axis_label(r, weekly) for r in data.org]
    threshold = float(data.setting("wow_threshold_hours_per_fte_week"))
    fig = make_subplots(
        rows=1, cols=3, horizontal_spacing=0.08,
        subplot_titles=("Per 8 scheduled hours", "Per clinical FTE week",
                        f"Clinicians with WOW over {threshold:g} h per FTE week"))

    def hover(unit: str) -> str:
        return "%{x}: %{y:.2f} " + unit + "<extra>%{fullData.name}</extra>"

    def legend(col: int) -> str:
        return "legend" if col == 1 else f"legend{col}"

    def line(column: str, name: str, colour: str, col: int, unit: str):
        fig.add_scatter(x=labels, y=[r.get(column) for r in data.org], name=name,
                        mode="lines+markers", line={"color": colour, "width": 3},
                        marker={"size": 9}, hovertemplate=hover(unit), legend=legend(col),
                        row=1, col=col)

    line("wow8_median", "WOW", COLOURS["wow"], 1, "h")
    line("ehr_time8_median", "All EHR time", COLOURS["ehr"], 1, "h")
    line("wow_hours_per_fte_week_median", "WOW", COLOURS["wow"], 2, "h")
    line("pajama_hours_per_fte_week_median", "Pajama time", COLOURS["pajama"], 2, "h")
    line("inbox_hours_per_fte_week_median", "Inbox time", COLOURS["inbox"], 2, "h")
    fig.add_bar(x=labels, y=[r.get("pct_clinicians_wow_over_threshold") for r in data.org],
                name=f"Clinicians with WOW over {threshold:g} h per FTE week",
                marker={"color": COLOURS["pct"], "opacity": 0.8},
                text=[_num(r.get("pct_clinicians_wow_over_threshold"), 0, "%") for r in data.org],
                textposition="outside", cliponaxis=False,
                hovertemplate="%{x}: %{y:.0f}% of clinicians<extra></extra>", legend=legend(3),
                row=1, col=3)
    if labels:
        fig.add_hline(y=threshold, line={"color": COLOURS["threshold"], "dash": "dash",
                                         "width": 1.5},
                      annotation_text=f"threshold {threshold:g} h", annotation_position="top left",
                      annotation_font={"size": 11, "color": COLOURS["threshold"]}, row=1, col=2)
    for r, label in zip(data.org, labels, strict=True):
        if r.get("is_suppressed"):
            for col in (1, 2, 3):
                fig.add_annotation(x=label, y=0.5, yref=f"{'y' if col == 1 else f'y{col}'} domain",
                                   xref=f"x{'' if col == 1 else col}", text="suppressed",
                                   showarrow=False, textangle=-90,
                                   font={"size": 11, "color": "#868e96"})
    layout = _base_layout(410)
    layout["margin"].update({"t": 55, "b": 60})
    for col in (1, 2, 3):
        x0 = fig.layout[f"xaxis{'' if col == 1 else col}"].domain[0]
        layout[legend(col)] = {**layout["legend"], "x": x0, "y": -0.1,
                               "orientation": "v" if col == 3 else "h"}
    fig.update_layout(**layout)
    fig.update_yaxes(rangemode="tozero", gridcolor="#e9ecef", zeroline=True,
                     zerolinecolor="#ced4da")
    fig.update_yaxes(title_text="hours per 8 scheduled hours (median)", row=1, col=1)
    fig.update_yaxes(title_text="hours per clinical FTE week (median)", row=1, col=2)
    fig.update_yaxes(title_text="% of eligible clinicians with an FTE", range=[0, 105],
                     row=1, col=3)
    fig.update_xaxes(type="category")
    if not labels:
        _no_data(fig, "No period has been published yet")
    return fig


def _department_rows(data: _Data) -> tuple[dt.date | None, list[dict[str, Any]]]:
    latest = _latest(data)
    period = latest["period_start"] if latest else None
    if period is None and data.departments:
        period = max(r["period_start"] for r in data.departments)
    rows = [r for r in data.departments if r["period_start"] == period]
    shown = sorted((r for r in rows if not r["is_suppressed"]),
                   key=lambda r: (-(r.get("wow8_median") or 0), r["department"]))
    hidden = sorted((r for r in rows if r["is_suppressed"]), key=lambda r: r["department"])
    return period, shown + hidden


def _departments_figure(data: _Data):
    from plotly.subplots import make_subplots

    period, rows = _department_rows(data)
    latest = _latest(data)
    names = [str(r["department"]) for r in rows]
    ys = list(range(len(rows)))
    panels = (("wow8", "WOW per 8 scheduled hours", COLOURS["wow"]),
              ("ehr_time8", "EHR time per 8 scheduled hours", COLOURS["ehr"]))
    fig = make_subplots(rows=1, cols=2, shared_yaxes=True, horizontal_spacing=0.05,
                        subplot_titles=[p[1] for p in panels])
    for col, (metric, title, colour) in enumerate(panels, start=1):
        med = [None if r["is_suppressed"] else r.get(f"{metric}_median") for r in rows]
        p25 = [None if r["is_suppressed"] else r.get(f"{metric}_p25") for r in rows]
        p75 = [None if r["is_suppressed"] else r.get(f"{metric}_p75") for r in rows]
        plus = [None if m is None or hi is None else hi - m for m, hi in zip(med, p75, strict=True)]
        minus = [None if m is None or lo is None else m - lo
                 for m, lo in zip(med, p25, strict=True)]
        hover = [
            f"<b>{_e(r['department'])}</b><br>median {_num(m)} h<br>middle half of clinicians: "
            f"{_num(lo)}\u2013{_num(hi)} h<br>{r['n_clinicians']} eligible clinicians"
            for r, m, lo, hi in zip(rows, med, p25, p75, strict=True)
        ]
        fig.add_scatter(
            x=med, y=ys, mode="markers", name=f"{title}: department median, bar p25\u2013p75",
            marker={"color": colour, "size": 13, "symbol": "diamond"},
            error_x={"type": "data", "symmetric": False, "array": plus, "arrayminus": minus,
                     "color": colour, "thickness": 3, "width": 8},
            hovertext=hover, hovertemplate="%{hovertext}<extra></extra>", row=1, col=col)
        org_median = None if latest is None or latest.get("is_suppressed") else \
            latest.get(f"{metric}_median")
        if org_median is not None and rows:
            fig.add_scatter(
                x=[org_median, org_median], y=[-0.5, len(rows) - 0.5], mode="lines",
                line={"color": "#495057", "dash": "dash", "width": 1.5},
                name="Organisation median (all eligible clinicians)", showlegend=col == 1,
                legendgroup="org", hovertemplate=f"organisation median {org_median:.2f} h"
                "<extra></extra>", row=1, col=col)
        for y, r in zip(ys, rows, strict=True):
            if r["is_suppressed"]:
                fig.add_annotation(x=0.02, xref=f"x{'' if col == 1 else col} domain", y=y,
                                   yref=f"y{'' if col == 1 else col}", xanchor="left",
                                   showarrow=False,
                                   text=f"<i>{_e(data.suppressed_text)}</i>",
                                   font={"size": 12, "color": "#868e96"})
        fig.update_xaxes(title_text="hours per 8 scheduled hours", rangemode="tozero",
                         gridcolor="#e9ecef", row=1, col=col)
    height = max(280, 170 + 42 * len(rows))
    layout = _base_layout(height)
    layout["margin"].update({"l": 150, "r": 40, "t": 60, "b": 110})
    layout["legend"]["y"] = -58 / (height - 60 - 110)  # below the axis titles
    fig.update_layout(**layout)
    fig.update_yaxes(tickmode="array", tickvals=ys, ticktext=[_e(n) for n in names],
                     range=[len(rows) - 0.5, -0.5], showgrid=False, zeroline=False,
                     row=1, col=1)
    fig.update_yaxes(range=[len(rows) - 0.5, -0.5], showgrid=False, zeroline=False)
    if not rows:
        _no_data(fig, "No department figures have been published yet")
    return fig, period, rows


def _category_rows(data: _Data) -> list[dict[str, Any]]:
    """One row per period: pooled category hours of the eligible clinicians, or suppressed."""
    by_period = {r["period_start"]: r for r in data.categories}
    periods = [r["period_start"] for r in data.org] or sorted(by_period)
    out = []
    for period in periods:
        r = by_period.get(period)
        n = r["n_clinicians"] if r else 0
        ok = r is not None and n >= data.min_cell_size and (r["scheduled_hours"] or 0) > 0
        row: dict[str, Any] = {"period_start": period, "n_clinicians": n, "is_suppressed": not ok}
        for column, _, _ in CATEGORIES:
            row[f"{column}_per8"] = (r[column] or 0) * 8 / r["scheduled_hours"] if ok else None
            row[f"{column}_pct"] = (100 * (r[column] or 0) / r["ehr_hours"]
                                    if ok and r["ehr_hours"] else None)
        row["ehr_per8"] = r["ehr_hours"] * 8 / r["scheduled_hours"] if ok else None
        out.append(row)
    return out


def _categories_figure(data: _Data, rows: list[dict[str, Any]]):
    import plotly.graph_objects as go

    complete = {r["period_start"]: r for r in data.org}
    labels = [_axis_label(complete.get(r["period_start"], r), data.weekly) for r in rows]
    fig = go.Figure()
    for column, name, colour in CATEGORIES:
        fig.add_bar(
            x=labels, y=[r[f"{column}_per8"] for r in rows], name=name,
            marker={"color": colour},
            text=[_num(r[f"{column}_pct"], 0, "%") if r[f"{column}_pct"] is not None else ""
                  for r in rows],
            textposition="inside", insidetextanchor="middle",
            customdata=[_num(r[f"{column}_pct"], 0, "%") for r in rows],
            hovertemplate="%{x}, " + name + ": %{y:.2f} h per 8 scheduled hours "
                          "(%{customdata} of EHR time)<extra></extra>")
    for r, label in zip(rows, labels, strict=True):
        if r["is_suppressed"]:
            fig.add_annotation(x=label, y=0.05, yref="paper", text=f"<i>{data.suppressed_text}"
                               "</i>", showarrow=False, textangle=-90, yanchor="bottom",
                               font={"size": 11, "color": "#868e96"})
        elif r["ehr_per8"] is not None:
            fig.add_annotation(x=label, y=r["ehr_per8"], text=f"<b>{r['ehr_per8']:.2f} h</b>",
                               showarrow=False, yanchor="bottom",
                               font={"size": 12, "color": "#212529"})
    layout = _base_layout(380)
    layout["margin"].update({"t": 30, "b": 60})
    layout["legend"].update({"y": -0.1, "traceorder": "normal"})
    fig.update_layout(barmode="stack", bargap=0.45, uniformtext={"minsize": 10, "mode": "hide"},
                      **layout)
    fig.update_yaxes(title_text="hours per 8 scheduled hours", rangemode="tozero",
                     gridcolor="#e9ecef")
    fig.update_xaxes(type="category")
    if not labels:
        _no_data(fig, "No period has been published yet")
    return fig


# --------------------------------------------------------------------------------------------
# The page


def _chart(chart_id: str, fig, label: str) -> str:
    """A chart's div, and its figure as JSON for the loader script at the end of the page."""
    spec = fig.to_json().replace("</", "<\\/")
    return (f'<div id="{chart_id}" class="chart" role="img" aria-label="{_e(label)}"></div>\n'
            f'<script type="application/json" class="chart-spec" data-chart="{chart_id}">'
            f"{spec}</script>\n")


def _kpi_cards(data: _Data) -> str:
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
    out = []
    for column, title, unit, sub, decimals, key in cards:
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
        out.append(
            f'<div class="kpi{" key" if key else ""} {cls}" data-metric="{column}">'
            f'<div class="kpi-title">{_e(title)}</div>'
            f'<div class="kpi-value">{_e(shown)}</div>'
            f'<div class="kpi-sub">{_e(sub)}</div>{delta}</div>')
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
    return f'<div class="kpis">{"".join(out)}</div>\n{note}</p>'


def _department_table(data: _Data, rows: list[dict[str, Any]]) -> str:
    head = "".join(f"<th>{_e(label)}<br><small>median (p25\u2013p75)</small></th>"
                   for _, label, _ in DEPARTMENT_METRICS)
    body = []
    for r in rows:
        name = _e(r["department"])
        if r["is_suppressed"]:
            body.append(f'<tr class="suppressed" data-department="{name}" data-suppressed="true">'
                        f"<th>{name}</th><td colspan=\"{len(DEPARTMENT_METRICS) + 1}\">"
                        f"<i>{_e(data.suppressed_text)}</i></td></tr>")
            continue
        cells = "".join(
            f"<td>{_num(r.get(f'{m}_median'), d)} <small>({_num(r.get(f'{m}_p25'), d)}"
            f"\u2013{_num(r.get(f'{m}_p75'), d)})</small></td>"
            for m, _, d in DEPARTMENT_METRICS)
        body.append(f'<tr data-department="{name}" data-suppressed="false"><th>{name}</th>'
                    f"<td>{r['n_clinicians']}</td>{cells}</tr>")
    if not body:
        body.append(f'<tr><td colspan="{len(DEPARTMENT_METRICS) + 2}">No department figures '
                    "yet.</td></tr>")
    return (f'<table class="numbers" id="department-table"><thead><tr><th>Department</th>'
            f"<th>Eligible clinicians</th>{head}</tr></thead><tbody>{''.join(body)}</tbody>"
            "</table>")


def _trend_table(data: _Data) -> str:
    cols = (("wow8_median", "WOW per 8 sched. h", 2, ""),
            ("ehr_time8_median", "EHR time per 8 sched. h", 2, ""),
            ("wow_hours_per_fte_week_median", "WOW h per FTE week", 1, ""),
            ("pajama_hours_per_fte_week_median", "Pajama h per FTE week", 1, ""),
            ("inbox_hours_per_fte_week_median", "Inbox h per FTE week", 1, ""),
            ("pct_clinicians_wow_over_threshold", "% over WOW threshold", 0, "%"))
    head = "".join(f"<th>{_e(label)}</th>" for _, label, _, _ in cols)
    body = []
    for r in data.org:
        label = _e(_period_label(r["period_start"], data.weekly))
        covered = (f'<td class="coverage" data-complete="{str(bool(r.get("is_complete_period"))).lower()}">'
                   f"{_e(coverage_text(r))}</td>")
        if r.get("is_suppressed"):
            body.append(f"<tr><th>{label}</th>{covered}<td>{r['n_clinicians']}</td><td colspan="
                        f"\"{len(cols)}\"><i>{_e(data.suppressed_text)}</i></td></tr>")
        else:
            body.append(f"<tr><th>{label}</th>{covered}<td>{r['n_clinicians']}</td>" + "".join(
                f"<td>{_num(r.get(c), d, u)}</td>" for c, _, d, u in cols) + "</tr>")
    return (f'<details><summary>Show the numbers</summary><table class="numbers"><thead><tr>'
            f"<th>Period</th><th>Data</th><th>Eligible clinicians</th>{head}</tr></thead><tbody>"
            f"{''.join(body)}</tbody></table></details>")


def _category_table(data: _Data, rows: list[dict[str, Any]]) -> str:
    head = "".join(f"<th>{_e(name)}</th>" for _, name, _ in CATEGORIES)
    body = []
    for r in rows:
        label = _e(_period_label(r["period_start"], data.weekly))
        if r["is_suppressed"]:
            body.append(f"<tr><th>{label}</th><td colspan=\"{len(CATEGORIES) + 1}\"><i>"
                        f"{_e(data.suppressed_text)}</i></td></tr>")
        else:
            body.append(f"<tr><th>{label}</th><td>{_num(r['ehr_per8'])} h</td>" + "".join(
                f"<td>{_num(r[f'{c}_per8'])} h ({_num(r[f'{c}_pct'], 0, '%')})</td>"
                for c, _, _ in CATEGORIES) + "</tr>")
    return (f'<details><summary>Show the numbers</summary><table class="numbers"><thead><tr>'
            f"<th>Period</th><th>All EHR time</th>{head}</tr></thead><tbody>{''.join(body)}"
            "</tbody></table><p class=\"note\">Hours per 8 scheduled hours (share of EHR time)."
            "</p></details>")


GLOSSARY = (
    ("Work outside of work (WOW)",
     "Time a clinician is active in the EHR outside their scheduled patient time: all EHR time "
     "minus the EHR time inside scheduled appointments (Arndt et al. 2023). Includes days with no "
     "appointments. Lower is better."),
    ("Per 8 scheduled hours",
     "Hours of EHR work for every 8 hours of scheduled patient time (Sinsky et al. 2020), so "
     "full-time and part-time clinicians compare fairly. EHR time 5.0 h means 5 hours in the EHR "
     "per 8-hour clinic day."),
    ("Per clinical FTE week",
     "Hours per week, scaled to one full-time clinical equivalent (FTE) from the roster."),
    ("Pajama time",
     "EHR time on weekends, holidays, and weekdays before {workday_start} or from {workday_end} "
     "local time."),
    ("Active time",
     "Time between two EHR actions counts as active when the gap is at most "
     "{idle_threshold_seconds} seconds; longer gaps are idle."),
    ("Eligible clinician",
     "A clinician with at least {min_scheduled_hours} scheduled hours in the period. Medians and "
     "department figures are over eligible clinicians only."),
    ("Median, p25\u2013p75",
     "The median is the middle clinician; half of the clinicians lie between p25 and p75 (the "
     "bars in the department chart)."),
    ("Suppressed",
     "A figure over fewer than {min_cell_size} eligible clinicians is not shown, to protect "
     "individual clinicians."),
)


def _gaps_text(data: _Data) -> str:
    if not data.gap_dates:
        return ""
    shown = ", ".join(_day(d) for d in data.gap_dates[:10])
    more = f" and {len(data.gap_dates) - 10} more" if len(data.gap_dates) > 10 else ""
    return (f"No EHR audit data at all on {len(data.gap_dates)} day(s) between the first and "
            f"last day with data: {shown}{more}. A whole organisation is not silent for a day: "
            "an extract is probably missing, and the totals of those periods are short by it.")


def _data_quality(data: _Data) -> str:
    """What was rejected and why, in counts (never a data value, a clinician or a patient)."""
    parts = ['<section id="data-quality"><h2>Data quality</h2>']
    gaps = _gaps_text(data)
    parts.append(f'<p class="explain gaps">{_e(gaps)}</p>' if gaps else
                 '<p class="explain">Every day between the first and last day with data has '
                 "EHR audit data.</p>")
    whole = [f for f in data.problem_files if f["status"] == "quarantined"]
    partly = [f for f in data.problem_files if f["status"] != "quarantined"]
    if not data.problem_files:
        parts.append('<p class="explain">No input file or row was rejected.</p>')
    if whole:
        parts.append(_dq_table(
            f"Files rejected whole ({len(whole)})", "dq-files", ("File", "Kind", "Why"),
            [(f"<code>{_e(f['file_path'])}</code>", _e(_kind_label(f)),
              _e(reason_kind((f["message"] or "").split(": ", 1)[-1]))) for f in whole]))
    if partly:
        parts.append(_dq_table(
            f"Files with rejected rows ({len(partly)})", "dq-rows",
            ("File", "Kind", "Rows rejected", "Rows read"),
            [(f"<code>{_e(f['file_path'])}</code>", _e(_kind_label(f)),
              f"{f['rows_quarantined']:,}", f"{f['rows_read']:,}") for f in partly], "numbers"))
    if data.rejected_rows:
        parts.append(_dq_table(
            "Why rows were rejected", "dq-reasons", ("File", "Reason", "Rows"),
            [(f"<code>{_e(r['source_file'])}</code>", _e(r["reason"]), f"{r['n_rows']:,}")
             for r in data.rejected_rows[:25]]))
        if len(data.rejected_rows) > 25:
            parts.append(f'<p class="note">and {len(data.rejected_rows) - 25} more kinds of '
                         "reason (all in the warehouse table <code>quarantine</code>).</p>")
    if data.unrostered:
        causes = ", ".join(f"{n} {c}" for c, n in data.unrostered.items())
        parts.append(f'<p class="explain">Clinicians measured without a roster department '
                     f"(shown as <i>unknown</i>, no per-FTE figures): {_e(causes)}.</p>")
    if data.warnings:
        checks = ", ".join(f"{w['table_name']}.{w['check_name']} ({w['failing_rows']:,})"
                           for w in data.warnings)
        parts.append(f'<p class="note">Data checks that warned at this publication: '
                     f"{_e(checks)}. Details in the warehouse table "
                     "<code>validation_results</code> and the validation report.</p>")
    parts.append("</section>")
    return "\n".join(parts)


def _dq_table(title: str, table_id: str, headers: tuple[str, ...], rows: list[tuple[str, ...]],
              extra_class: str = "") -> str:
    """A titled table of the data-quality section; cells are already HTML."""
    head = "".join(f"<th>{h}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    classes = f"dq {extra_class}".strip()
    return (f'<h3>{title}</h3><table class="{classes}" id="{table_id}">'
            f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")


def _kind_label(row: dict[str, Any]) -> str:
    kind = str(row.get("file_kind") or "")
    return "audit extract" if kind == "audit_extract" else kind.removeprefix(
        "reference_").replace("_", " ") + " (reference)"


def _definitions(data: _Data) -> str:
    values = {name: data.setting(name) for name in
              ("workday_start", "workday_end", "idle_threshold_seconds", "min_scheduled_hours",
               "min_cell_size")}
    values = {k: (f"{v:g}" if isinstance(v, float) else v) for k, v in values.items()}
    glossary = "".join(f"<dt>{_e(term)}</dt><dd>{_e(text.format(**values))}</dd>"
                       for term, text in GLOSSARY)
    settings = [r for r in data.definitions
                if r["kind"] == "setting" and r["name"] not in OPERATIONAL_SETTINGS]
    metrics = [r for r in data.definitions if r["kind"] == "metric"]

    def table(rows: list[dict[str, Any]], with_value: bool) -> str:
        if not rows:
            return '<p class="note">Not recorded in this publication.</p>'
        head = "<th>Name</th>" + ("<th>Value</th>" if with_value else "<th>Unit</th>") + \
            "<th>Definition</th>"
        body = "".join(
            f"<tr><th><code>{_e(r['name'])}</code></th><td>"
            + (_e(f"{r['value'] if r['value'] is not None else DASH} {r['unit'] or ''}".strip())
               if with_value else _e(r["unit"] or ""))
            + f"</td><td>{_e(r['definition'])}</td></tr>" for r in rows)
        return f'<table class="defs"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'

    return (
        '<section id="definitions"><h2>Definitions and settings</h2>'
        f'<h3>Reading this page</h3><dl class="glossary">{glossary}</dl>'
        "<h3>Settings these figures were computed with</h3>"
        f"{table(settings, True)}"
        + "<h3>Metric definitions</h3>"
        f"{table(metrics, False)}"
        f'<p class="note">Run <code>{_e(data.run_id or DASH)}</code>; data checked and published '
        f"{_e(_when(data.published_at))}. The same definitions are in the warehouse table "
        "<code>metric_definitions</code> and in docs/metrics.md.</p></section>")


def _when(moment: dt.datetime | None) -> str:
    if moment is None:
        return DASH
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC)
    return moment.strftime("%Y-%m-%d %H:%M UTC")


CSS = """
:root { --ink: #212529; --muted: #6c757d; --line: #dee2e6; --wow: #d9480f; }
* { box-sizing: border-box; }
body { margin: 0; font-family: FONT_STACK; color: var(--ink); background: #f8f9fa;
       line-height: 1.45; }
main { max-width: 1320px; margin: 0 auto; padding: 18px 32px 40px; }
header h1 { font-size: 28px; margin: 0 0 6px; }
header .lede { font-size: 17px; margin: 0 0 6px; max-width: 70em; }
header .meta { color: var(--muted); font-size: 13px; margin: 0; }
section { background: white; border: 1px solid var(--line); border-radius: 10px;
          padding: 14px 20px; margin: 14px 0; }
h2 { font-size: 21px; margin: 0 0 4px; }
h3 { font-size: 16px; margin: 18px 0 6px; }
.explain { margin: 0 0 10px; max-width: 75em; }
.note { color: var(--muted); font-size: 13px; margin: 8px 0 0; }
.kpis { display: grid; grid-template-columns: repeat(6, 1fr); gap: 12px; margin-top: 10px; }
.kpi { border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; }
.kpi.key { border-color: var(--wow); border-width: 2px; }
.kpi-title { font-weight: 600; font-size: 14px; }
.kpi-value { font-size: 30px; font-weight: 700; margin: 4px 0 0; white-space: nowrap; }
.kpi.suppressed .kpi-value { font-size: 14px; font-weight: 400; font-style: italic;
                             color: var(--muted); white-space: normal; }
.kpi-sub { color: var(--muted); font-size: 12px; }
.delta { display: block; margin-top: 6px; font-size: 13px; font-weight: 600;
         color: var(--muted); }
.delta.none { font-weight: 400; }
.delta.up { color: #c92a2a; } .delta.up::before { content: "\\25B2 "; }
.delta.down { color: #2b8a3e; } .delta.down::before { content: "\\25BC "; }
.chart { width: 100%; min-height: 260px; }
table { border-collapse: collapse; font-size: 13px; margin-top: 8px; }
th, td { border-bottom: 1px solid var(--line); padding: 5px 10px; text-align: left;
         vertical-align: top; }
table.numbers td { text-align: right; white-space: nowrap; }
table.numbers td[colspan] { text-align: left; color: var(--muted); }
table.numbers small { color: var(--muted); }
tr.suppressed { color: var(--muted); }
table.defs td:last-child { max-width: 60em; }
details { margin-top: 8px; } summary { cursor: pointer; color: #1c7ed6; font-size: 14px; }
dl.glossary { display: grid; grid-template-columns: 14em 1fr; gap: 4px 16px; margin: 0; }
dl.glossary dt { font-weight: 600; } dl.glossary dd { margin: 0; }
code { font-size: 12px; }
.partial { color: #c92a2a; }
.gaps { color: #c92a2a; font-weight: 600; }
table.dq td { max-width: 40em; }
@media (max-width: 1000px) { .kpis { grid-template-columns: repeat(2, 1fr); } }
""".replace("FONT_STACK", FONT)

LOADER = """
document.querySelectorAll("script.chart-spec").forEach(function (node) {
  var target = document.getElementById(node.getAttribute("data-chart"));
  try {
    var spec = JSON.parse(node.textContent);
    Plotly.newPlot(target, spec.data, spec.layout,
                   {displaylogo: false, responsive: true,
                    modeBarButtonsToRemove: ["select2d", "lasso2d"]});
  } catch (err) {
    target.textContent = "This chart could not be drawn (" + err + "); the numbers are below.";
  }
});
"""


def render_page(data: _Data) -> str:
    """The whole page as one HTML string (plotly.js inlined once, in the head)."""
    from plotly.offline import get_plotlyjs

    weekly = data.weekly
    unit = "week" if weekly else "month"
    threshold = float(data.setting("wow_threshold_hours_per_fte_week"))
    first = _period_label(data.org[0]["period_start"], weekly) if data.org else None
    last = _period_label(data.org[-1]["period_start"], weekly) if data.org else None
    span = (f"Covers {first} to {last} ({unit}ly)" if first and first != last
            else f"Covers {first} ({unit}ly)" if first else "No period published yet")
    if data.first_date is not None:
        span += (f"; EHR audit data from {_day(data.first_date)} through "
                 f"{_day(data.last_date)}")
    dept_fig, dept_period, dept_rows = _departments_figure(data)
    cat_rows = _category_rows(data)
    n_suppressed = sum(1 for r in dept_rows if r["is_suppressed"])
    dept_title = "Departments side by side" + (
        f", {_period_label(dept_period, weekly, long=True)}" if dept_period else "")

    body = f"""
<header>
<h1>Work outside of work: EHR time beyond clinicians' scheduled hours</h1>
<p class="lede">How much time our clinicians spend in the electronic health record (EHR), and how
much of it falls <b>outside their scheduled patient time</b> (evenings, weekends, days off).
Lower is better. Figures are medians over clinicians, for the organisation and by department;
no individual clinician is shown.</p>
<p class="meta">{_e(span)}. Data run <code>{_e(data.run_id or DASH)}</code>,
published {_e(_when(data.published_at))}. Source: EHR audit logs and clinic schedules, computed by
wow-metrics. Definitions are at the <a href="#definitions">bottom of the page</a>.</p>
</header>

<section id="headline">
<h2>The latest {_e(unit)} at a glance</h2>
{_kpi_cards(data)}
{f'<p class="note gaps">{_e(_gaps_text(data))}</p>' if data.gap_dates else ""}
</section>

<section id="trend">
<h2>Is it getting better? The organisation's medians, {_e(unit)} by {_e(unit)}</h2>
<p class="explain">Left: hours in the EHR for every 8 hours of scheduled patient time, in total
and outside scheduled time (WOW). Middle: hours per week for a full-time clinician (clinical
FTE), with the WOW threshold of {threshold:g} h as a dashed line. Right: the share of clinicians
whose WOW is over that threshold. Each point is the median clinician of that {_e(unit)}; a
{_e(unit)} with fewer than {data.min_cell_size} eligible clinicians is suppressed and has no
point.</p>
{_chart("chart-trend", _trend_figure(data), "Trend of the organisation's median EHR time and WOW")}
{_trend_table(data)}
</section>

<section id="departments">
<h2>{_e(dept_title)}</h2>
<p class="explain">Each diamond is the department's median clinician; the bar spans the middle
half of its clinicians (25th to 75th percentile), so a long bar means clinicians in that
department differ a lot. The dashed line is the organisation median. Departments with fewer than
{data.min_cell_size} eligible clinicians are shown as <i>{_e(data.suppressed_text)}</i>, without
figures{f" ({n_suppressed} of {len(dept_rows)} this {unit})" if dept_rows else ""}.</p>
{_chart("chart-departments", dept_fig, "WOW and EHR time per 8 scheduled hours by department")}
{_department_table(data, dept_rows)}
</section>

<section id="categories">
<h2>Where the EHR time goes</h2>
<p class="explain">All EHR time of the eligible clinicians, pooled, split by kind of work: the
height of each bar is hours per 8 scheduled hours (the total is printed on top), and the
percentages inside are each kind's share of EHR time. Inbox work (messages, results, refill
requests) and notes are the usual targets for team support. These are pooled organisation
totals, so the bar height differs a little from the median clinician's EHR time above; a
{_e(unit)} with fewer than {data.min_cell_size} eligible clinicians is suppressed.</p>
{_chart("chart-categories", _categories_figure(data, cat_rows),
        "EHR time by category of work per 8 scheduled hours")}
{_category_table(data, cat_rows)}
</section>

{_data_quality(data)}

{_definitions(data)}
"""
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Work outside of work (WOW) dashboard</title>
<style>{CSS}</style>
<script>{get_plotlyjs()}</script>
</head>
<body>
<main>
{body}
<noscript><p>The charts need JavaScript; the numbers are in the tables under each chart.</p>
</noscript>
</main>
<script>{LOADER}</script>
</body>
</html>
"""
