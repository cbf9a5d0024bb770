"""The numbers under each chart: the trend, department and category tables."""

from __future__ import annotations

from typing import Any

from wow_metrics.dashboard.data import _Data
from wow_metrics.dashboard.formatting import (
    CATEGORIES,
    DEPARTMENT_METRICS,
    _e,
    _num,
    _period_label,
    coverage_text,
)


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
