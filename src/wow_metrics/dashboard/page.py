"""The page: the header, the headline, the three chart sections and the closing sections in
one static HTML string, with its style, plotly.js inlined once in the head, and the script that
draws each chart from its JSON spec."""

from __future__ import annotations

from wow_metrics.dashboard.data import _Data
from wow_metrics.dashboard.figures import (
    _categories_figure,
    _category_rows,
    _departments_figure,
    _trend_figure,
)
from wow_metrics.dashboard.formatting import DASH, FONT, _day, _e, _period_label, _when
from wow_metrics.dashboard.headline import _kpi_cards
from wow_metrics.dashboard.sections import _data_quality, _definitions, _gaps_text
from wow_metrics.dashboard.tables import _category_table, _department_table, _trend_table

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

    # The sections in page order, a blank line between them.
    sections = (_header(data), _headline_section(data), _trend_section(data),
                _departments_section(data), _categories_section(data), _data_quality(data),
                _definitions(data))
    body = "\n" + "\n\n".join(sections) + "\n"
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


def _chart(chart_id: str, fig, label: str) -> str:
    """A chart's div, and its figure as JSON for the loader script at the end of the page."""
    spec = fig.to_json().replace("</", "<\\/")
    return (f'<div id="{chart_id}" class="chart" role="img" aria-label="{_e(label)}"></div>\n'
            f'<script type="application/json" class="chart-spec" data-chart="{chart_id}">'
            f"{spec}</script>\n")


def _header(data: _Data) -> str:
    """The title, what the page is about, and the span, run and time of the data."""
    weekly = data.weekly
    unit = "week" if weekly else "month"
    first = _period_label(data.org[0]["period_start"], weekly) if data.org else None
    last = _period_label(data.org[-1]["period_start"], weekly) if data.org else None
    span = (f"Covers {first} to {last} ({unit}ly)" if first and first != last
            else f"Covers {first} ({unit}ly)" if first else "No period published yet")
    if data.first_date is not None:
        span += (f"; EHR audit data from {_day(data.first_date)} through "
                 f"{_day(data.last_date)}")
    return f"""<header>
<h1>Work outside of work: EHR time beyond clinicians' scheduled hours</h1>
<p class="lede">How much time our clinicians spend in the electronic health record (EHR), and how
much of it falls <b>outside their scheduled patient time</b> (evenings, weekends, days off).
Lower is better. Figures are medians over clinicians, for the organisation and by department;
no individual clinician is shown.</p>
<p class="meta">{_e(span)}. Data run <code>{_e(data.run_id or DASH)}</code>,
published {_e(_when(data.published_at))}. Source: EHR audit logs and clinic schedules, computed by
wow-metrics. Definitions are at the <a href="#definitions">bottom of the page</a>.</p>
</header>"""


def _headline_section(data: _Data) -> str:
    """The latest period at a glance: its cards, and any days without data."""
    unit = "week" if data.weekly else "month"
    return f"""<section id="headline">
<h2>The latest {_e(unit)} at a glance</h2>
{_kpi_cards(data)}
{f'<p class="note gaps">{_e(_gaps_text(data))}</p>' if data.gap_dates else ""}
</section>"""


def _trend_section(data: _Data) -> str:
    """The organisation's medians period by period: the chart and its numbers."""
    unit = "week" if data.weekly else "month"
    threshold = float(data.setting("wow_threshold_hours_per_fte_week"))
    return f"""<section id="trend">
<h2>Is it getting better? The organisation's medians, {_e(unit)} by {_e(unit)}</h2>
<p class="explain">Left: hours in the EHR for every 8 hours of scheduled patient time, in total
and outside scheduled time (WOW). Middle: hours per week for a full-time clinician (clinical
FTE), with the WOW threshold of {threshold:g} h as a dashed line. Right: the share of clinicians
whose WOW is over that threshold. Each point is the median clinician of that {_e(unit)}; a
{_e(unit)} with fewer than {data.min_cell_size} eligible clinicians is suppressed and has no
point.</p>
{_chart("chart-trend", _trend_figure(data), "Trend of the organisation's median EHR time and WOW")}
{_trend_table(data)}
</section>"""


def _departments_section(data: _Data) -> str:
    """The departments of the latest period side by side: the chart and its numbers."""
    weekly = data.weekly
    unit = "week" if weekly else "month"
    dept_fig, dept_period, dept_rows = _departments_figure(data)
    n_suppressed = sum(1 for r in dept_rows if r["is_suppressed"])
    dept_title = "Departments side by side" + (
        f", {_period_label(dept_period, weekly, long=True)}" if dept_period else "")
    return f"""<section id="departments">
<h2>{_e(dept_title)}</h2>
<p class="explain">Each diamond is the department's median clinician; the bar spans the middle
half of its clinicians (25th to 75th percentile), so a long bar means clinicians in that
department differ a lot. The dashed line is the organisation median. Departments with fewer than
{data.min_cell_size} eligible clinicians are shown as <i>{_e(data.suppressed_text)}</i>, without
figures{f" ({n_suppressed} of {len(dept_rows)} this {unit})" if dept_rows else ""}.</p>
{_chart("chart-departments", dept_fig, "WOW and EHR time per 8 scheduled hours by department")}
{_department_table(data, dept_rows)}
</section>"""


def _categories_section(data: _Data) -> str:
    """Where the EHR time goes, period by period: the chart and its numbers."""
    unit = "week" if data.weekly else "month"
    cat_rows = _category_rows(data)
    return f"""<section id="categories">
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
</section>"""
