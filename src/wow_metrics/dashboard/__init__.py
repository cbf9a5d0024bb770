"""The leadership dashboard: one static, offline HTML page over the published warehouse.

`build_dashboard(warehouse)` reads <warehouse>/wow.duckdb read-only and writes
<warehouse>/dashboard/index.html: the organisation's work-outside-of-work (WOW) story for a
well-being office lead or CMIO, in plain language. Rollups only: the page shows organisation and
department figures (department cells under min_cell_size eligible clinicians stay suppressed, as
published) and organisation sums of EHR time by category, never a clinician-level row, a
clinician_id or a patient key. Plotly.js is inlined once in the page head, so the file opens from
disk with no server and no network.

The package, by job: ``data`` reads the publication, ``formatting`` says how a figure, a date
or a period reads, ``figures`` builds the Plotly charts, ``headline`` the cards of the latest
period, ``tables`` the numbers under each chart, ``sections`` the data-quality and definitions
sections, and ``page`` puts them into one page.
"""

from __future__ import annotations

import os
from pathlib import Path

from wow_metrics.dashboard.data import (
    CATEGORY_SQL,
    REASON_KINDS,
    UNROSTERED_SQL,
    _Data,
    _load,
    reason_kind,
)
from wow_metrics.dashboard.formatting import (
    CATEGORIES,
    CHART_IDS,
    COLOURS,
    DASH,
    DEPARTMENT_METRICS,
    FONT,
    MINUS,
    MONTHS,
    MONTHS_LONG,
    coverage_text,
)
from wow_metrics.dashboard.page import CSS, LOADER, render_page
from wow_metrics.dashboard.sections import GLOSSARY

__all__ = [
    "CATEGORIES",
    "CATEGORY_SQL",
    "CHART_IDS",
    "COLOURS",
    "CSS",
    "DASH",
    "DEPARTMENT_METRICS",
    "FONT",
    "GLOSSARY",
    "LOADER",
    "MINUS",
    "MONTHS",
    "MONTHS_LONG",
    "REASON_KINDS",
    "UNROSTERED_SQL",
    "_Data",
    "build_dashboard",
    "coverage_text",
    "reason_kind",
    "render_page",
]


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
