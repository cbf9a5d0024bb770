"""The page's closing sections: data quality (missing days, rejected files and rows, by
kind and in counts only) and the definitions and settings the figures were computed with."""

from __future__ import annotations

from typing import Any

from wow_metrics.dashboard.data import _Data, reason_kind
from wow_metrics.dashboard.formatting import DASH, _day, _e, _when
from wow_metrics.state import OPERATIONAL_SETTINGS

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
