"""The dashboard of a partial period (issue 21, case 1): no change computed from a partial
period, the page says how far the data goes, gap days and rejected input are shown as counts.

The page is rendered from given publication rows (no pipeline run): `render_page` reads only
what `_load` would have read from wow.duckdb."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from wow_metrics.dashboard import _Data, coverage_text, reason_kind, render_page

D = dt.date
FEB, MAR, APR = D(2026, 2, 1), D(2026, 3, 1), D(2026, 4, 1)


def org_row(start: dt.date, days: int, covered: int, first: dt.date | None,
            last: dt.date | None, wow8: float, previous: dt.date | None = None,
            change: float | None = None, **extra) -> dict:
    figures = {"wow8_median": wow8, "ehr_time8_median": 5.5,
               "wow_hours_per_fte_week_median": 6.0, "pajama_hours_per_fte_week_median": 3.0,
               "inbox_hours_per_fte_week_median": 4.0, "pct_clinicians_wow_over_threshold": 40.0}
    changes = {f"{k}_change": (change if previous is not None else None) for k in figures}
    return {"period_start": start, "period_days": days, "coverage_days": covered,
            "is_complete_period": covered == days, "coverage_start": first,
            "coverage_end": last, "gap_days": 0, "n_clinicians_measured": 12,
            "n_clinicians": 10, "is_suppressed": False, "wow_threshold_hours_per_fte_week": 5.0,
            "previous_period_start": previous, **figures, **changes, **extra}


def page(org: list[dict], **fields) -> str:
    data = _Data(org=org, run_id="20260417T020000Z-test", settings={"period": "month"},
                 first_date=org[0]["coverage_start"] if org else None,
                 last_date=org[-1]["coverage_end"] if org else None, **fields)
    from plotly.offline import get_plotlyjs

    return render_page(data).replace(get_plotlyjs(), "")


def card(text: str, metric: str) -> str:
    found = re.search(rf'data-metric="{metric}">(.*?)</span></div>', text, re.S)
    assert found, metric
    return found.group(1)


# A nightly warehouse on 17 April: February and March complete, April through the 16th.
NIGHTLY = [
    org_row(FEB, 28, 28, FEB, D(2026, 2, 28), 1.10),
    org_row(MAR, 31, 31, MAR, D(2026, 3, 31), 1.20, previous=FEB, change=0.10),
    org_row(APR, 30, 16, APR, D(2026, 4, 16), 0.60, previous=MAR, change=None),
]


def test_partial_latest_month_shows_no_change_and_says_data_through():
    text = page(NIGHTLY)
    for metric in ("wow8_median", "ehr_time8_median", "wow_hours_per_fte_week_median",
                   "pct_clinicians_wow_over_threshold", "pajama_hours_per_fte_week_median",
                   "inbox_hours_per_fte_week_median"):
        shown = card(text, metric)
        assert "no change shown: April 2026 is partial" in shown
        assert "vs Mar" not in shown and 'class="delta up"' not in shown \
            and 'class="delta down"' not in shown
    assert "April 2026 is partial: data through 16 Apr 2026</b> (16 of 30 days)" in text
    assert "changes are shown only between complete months" in text
    assert "EHR audit data from 1 Feb 2026 through 16 Apr 2026" in text  # the header
    # the numbers table says which periods are partial; the chart axis marks them
    assert re.search(r"<th>Apr 2026</th><td class=\"coverage\" data-complete=\"false\">"
                     r"partial: data through 16 Apr 2026</td>", text)
    assert re.search(r"<th>Mar 2026</th><td class=\"coverage\" data-complete=\"true\">"
                     r"complete</td>", text)
    assert "Apr 2026 (partial)" in text and "Mar 2026 (partial)" not in text


def test_two_complete_months_show_their_change():
    text = page(NIGHTLY[:2])
    assert "+0.10 h vs Feb 2026" in card(text, "wow8_median")
    assert "is partial" not in card(text, "wow8_median")


def test_a_complete_month_after_a_partial_one_shows_no_change():
    org = [org_row(FEB, 28, 6, D(2026, 2, 23), D(2026, 2, 28), 0.9),
           org_row(MAR, 31, 31, MAR, D(2026, 3, 31), 1.2, previous=FEB, change=None)]
    text = page(org)
    assert "no change shown: Feb 2026 is partial" in card(text, "wow8_median")
    assert "partial: data from 23 Feb 2026" in text


def test_the_headline_period_is_the_latest_with_data():
    """A schedule that runs into May (day rows with scheduled time, no events) makes a May
    period with eligible clinicians but no data: the headline stays on April."""
    may = org_row(D(2026, 5, 1), 31, 0, None, None, 0.0, previous=APR)
    text = page([*NIGHTLY, may])
    assert "April 2026: medians over" in text
    assert "May 2026 is not shown: it has scheduled time but no EHR data yet." in text


def test_gap_days_and_rejected_input_are_shown_as_counts():
    gaps = [D(2026, 4, 4), D(2026, 4, 5)]
    text = page(NIGHTLY, gap_dates=gaps, problem_files=[
        {"file_path": "reference/schedule/april.csv", "file_kind": "reference_schedule",
         "status": "read", "rows_read": 2353, "rows_quarantined": 2353, "message": None},
        {"file_path": "audit/Canonical/events_2026-04-03.csv", "file_kind": "audit_extract",
         "status": "quarantined", "rows_read": 0, "rows_quarantined": 0,
         "message": "audit/Canonical/events_2026-04-03.csv: file quarantined: unknown extract "
                    "format folder audit/Canonical (declared formats: canonical)"}],
        rejected_rows=[{"source_file": "reference/schedule/april.csv",
                        "reason": "unparseable start_time", "n_rows": 2353}],
        unrostered={"no roster row": 1, "roster row rejected": 2})
    section = text[text.index('id="data-quality"'):text.index('id="definitions"')]
    assert "No EHR audit data at all on 2 day(s)" in section and "4 Apr 2026, 5 Apr 2026" in section
    assert "an extract is probably missing" in text[:text.index('id="data-quality"')]  # headline
    assert "<td>2,353</td><td>2,353</td>" in section
    assert "unknown extract format folder audit/Canonical" in section
    assert "unparseable start_time</td><td>2,353</td>" in section
    assert "1 no roster row, 2 roster row rejected" in section


@pytest.mark.parametrize("reason, kind", [
    ("unparseable start_time 3/2/2026 8:00 AM", "unparseable start_time"),
    ("clinical_fte 2.0 out of range (0, 1.5]", "clinical_fte out of range (0, 1.5]"),
    ("duration_minutes 99999 out of range (0, 1440]", "duration_minutes out of range (0, 1440]"),
    ("unknown time zone Mars/Olympus", "unknown time zone"),
    ("unknown status maybe", "unknown status"),
    ("start_time 2026-03-08T02:30:00 does not exist in America/New_York (DST gap)",
     "start_time in a DST gap"),
    ('unparseable ACCESS_INSTANT (value "9999-99-99 99:99")', "unparseable ACCESS_INSTANT"),
    ("missing clinician_id", "missing clinician_id"),
    ("file quarantined: missing required column(s) duration_minutes (header: a,b)",
     "file rejected whole: missing required column(s) duration_minutes"),
    ("file quarantined: cannot read as CSV: Invalid Input Error: state",
     "file rejected whole: cannot read as CSV"),
])
def test_reasons_are_counted_by_kind_without_their_values(reason, kind):
    assert reason_kind(reason) == kind


def test_coverage_text():
    row = org_row(MAR, 31, 5, D(2026, 3, 3), D(2026, 3, 7), 1.0)
    assert coverage_text(row) == "partial: data 3 Mar to 7 Mar 2026"
    assert coverage_text(org_row(MAR, 31, 0, None, None, 1.0)) == "no data yet"
    assert coverage_text(NIGHTLY[1]) == "complete"
