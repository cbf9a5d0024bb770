"""The three charts as Plotly figure specs (drawn in the page by the inlined plotly.js):
the organisation's trend, the departments side by side, and where the EHR time goes."""

from __future__ import annotations

import datetime as dt
from typing import Any

from wow_metrics.dashboard.data import _Data, _latest
from wow_metrics.dashboard.formatting import (
    CATEGORIES,
    COLOURS,
    FONT,
    _axis_label,
    _e,
    _num,
)


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
