"""The offline leadership dashboard, built from the bundled sample: what the page says, what it
must never contain, and that a real headless Chromium draws its charts without any network."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import struct
import subprocess
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import duckdb
import pytest
from conftest import REPO_ROOT, SAMPLE_LANDING

from wow_metrics.dashboard import CHART_IDS, build_dashboard

pytestmark = pytest.mark.gx  # end to end: the gate runs Great Expectations

ARTIFACTS = REPO_ROOT / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")
BROWSER_TIMEOUT = 60  # seconds per Chromium run
APT_TIMEOUT = 900
SUPPRESSED = "suppressed (fewer than {n} clinicians)"


# --------------------------------------------------------------------------------------------
# Fixtures


@pytest.fixture(scope="module")
def published(tmp_path_factory) -> dict[str, Any]:
    from wow_metrics.pipeline import run

    warehouse = tmp_path_factory.mktemp("dashboard") / "warehouse"
    summary = run(SAMPLE_LANDING, warehouse)
    return {"warehouse": warehouse, "warnings": list(summary.warnings),
            "page_after_run": (warehouse / "dashboard" / "index.html").exists()}


@pytest.fixture(scope="module")
def warehouse(published: dict[str, Any]) -> Path:
    return published["warehouse"]


@pytest.fixture(scope="module")
def page(warehouse: Path) -> Path:
    # The run writes one too; remove it so this checks build_dashboard's own output.
    shutil.rmtree(warehouse / "dashboard", ignore_errors=True)
    path = build_dashboard(warehouse)
    assert path == warehouse / "dashboard" / "index.html"
    return path


@pytest.fixture(scope="module")
def html_text(page: Path) -> str:
    return page.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def page_only(html_text: str) -> str:
    """The page without the inlined plotly.js library: what the dashboard itself wrote."""
    from plotly.offline import get_plotlyjs

    library = get_plotlyjs()
    assert html_text.count(library) == 1, "plotly.js must be inlined exactly once"
    return html_text.replace(library, "")


def query(warehouse: Path, sql: str, params: dict | None = None) -> list[dict[str, Any]]:
    with duckdb.connect(str(warehouse / "wow.duckdb"), read_only=True) as con:
        cur = con.execute(sql, params or {})
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def setting(warehouse: Path, name: str) -> str:
    return query(warehouse, "select value from metric_definitions where kind = 'setting' and "
                 "name = $n", {"n": name})[0]["value"]


def latest_period(warehouse: Path):
    return query(warehouse, "select max(period_start) as p from efficiency_of_practice_by_period "
                 "where n_clinicians > 0 and coverage_days > 0")[0]["p"]


def chart_spec(html_text: str, chart_id: str) -> dict[str, Any]:
    """The Plotly figure (data and layout) the page draws into the chart's div."""
    match = re.search(r'<script type="application/json" class="chart-spec" data-chart="'
                      + re.escape(chart_id) + r'">(.*?)</script>', html_text, re.S)
    assert match, f"no figure for {chart_id}"
    return json.loads(match.group(1))


# --------------------------------------------------------------------------------------------
# The page as written


def test_a_publication_rebuilds_the_dashboard(published: dict[str, Any]) -> None:
    assert published["page_after_run"]
    assert not [w for w in published["warnings"] if "dashboard" in w]


def test_page_is_one_complete_offline_file(page: Path, html_text: str, page_only: str) -> None:
    assert sorted(p.name for p in page.parent.iterdir()) == ["index.html"]  # no temp file left
    assert html_text.startswith("<!DOCTYPE html>") and html_text.rstrip().endswith("</html>")
    # Nothing is fetched: no remote script, stylesheet, image, frame or font.
    remote = re.findall(r"<(?:script|link|img|iframe|source|embed|object|audio|video)\b[^>]*"
                        r"\b(?:src|href|data)\s*=\s*[\"']?\s*(?:https?:)?//", html_text, re.I)
    assert remote == []
    assert not re.search(r"@import|url\(\s*[\"']?(?:https?:)?//", page_only, re.I)
    assert "cdn.plot.ly" not in page_only
    # plotly.js is in the page itself, in the head, before any chart is drawn.
    head = html_text[:html_text.index("</head>")]
    assert len(head) > 1_000_000 and "Plotly" in head


def test_page_has_every_chart_and_the_definitions(html_text: str) -> None:
    for chart_id in CHART_IDS:
        assert f'<div id="{chart_id}"' in html_text
        spec = chart_spec(html_text, chart_id)
        drawn = [t for t in spec["data"] if any(v is not None for v in t.get("y", []) + t.get("x", []))]
        assert drawn, f"{chart_id} has no trace with data"
    # Every value axis says its unit.
    axes = {"chart-trend": ("yaxis", "yaxis2", "yaxis3"),
            "chart-departments": ("xaxis", "xaxis2"), "chart-categories": ("yaxis",)}
    for chart_id, names in axes.items():
        layout = chart_spec(html_text, chart_id)["layout"]
        for name in names:
            title = layout[name]["title"]["text"]
            assert "hours" in title or "%" in title, (chart_id, name, title)
    assert '<section id="definitions">' in html_text


def test_headline_cards_show_the_latest_period_and_why_it_has_no_change(warehouse: Path,
                                                                       html_text: str) -> None:
    """The sample ends mid-month, like every nightly warehouse: its latest month is partial, so
    its cards show the figures and say why no change is shown (tests/dashboard/
    test_partial_periods.py renders the change between two complete months)."""
    latest = latest_period(warehouse)
    org = query(warehouse, "select * from efficiency_of_practice_by_period where "
                "period_start = $p", {"p": latest})[0]
    assert not org["is_suppressed"] and org["previous_period_start"] is not None
    assert not org["is_complete_period"] and org["wow8_median_change"] is None
    card = re.search(r'<div class="kpi key\s*" data-metric="wow8_median">(.*?)</span></div>',
                     html_text, re.S)
    assert card, "no WOW per 8 scheduled hours card"
    text = card.group(1)
    assert f"{org['wow8_median']:.2f} h" in text and "per 8 scheduled hours" in text
    assert f"no change shown: {latest:%B %Y} is partial" in text
    assert " vs " not in text
    through = org["coverage_end"]
    assert (f"{latest:%B %Y} is partial: data through {through.day} {through:%b %Y}</b> "
            f"({org['coverage_days']} of {org['period_days']} days)") in html_text
    threshold = float(setting(warehouse, "wow_threshold_hours_per_fte_week"))
    pct = re.search(r'data-metric="pct_clinicians_wow_over_threshold">(.*?)</span></div>',
                    html_text, re.S).group(1)
    assert f"WOW over {threshold:g} h" in pct
    assert f"{org['pct_clinicians_wow_over_threshold']:.0f}%" in pct
    assert f"{latest:%B %Y}: medians over <b>{org['n_clinicians']}</b> eligible" in html_text
    first = query(warehouse, "select min(activity_date) as d from coverage_by_date")[0]["d"]
    assert f"EHR audit data from {first.day} {first:%b %Y} through {through.day} " \
           f"{through:%b %Y}" in html_text


def test_definitions_list_every_setting_and_metric_with_the_run(warehouse: Path,
                                                               html_text: str) -> None:
    section = html_text[html_text.index('<section id="definitions">'):]
    defs = query(warehouse, "select * from metric_definitions")
    for row in defs:
        assert f"<code>{row['name']}</code>" in section or f"{row['name']} = " in section, row
    for name in ("idle_threshold_seconds", "workday_start", "workday_end", "period",
                 "min_cell_size", "min_scheduled_hours"):
        value = setting(warehouse, name)
        assert re.search(rf"<code>{name}</code></th><td>{re.escape(value)}\b", section), name
    run_id = defs[0]["run_id"]
    published = query(warehouse, "select max(checked_at) as t from validation_results")[0]["t"]
    assert f"<code>{run_id}</code>" in section
    assert f"published {published.astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC" in section


def test_no_clinician_or_patient_identifier_leaves_the_warehouse(warehouse: Path, html_text: str,
                                                                 page_only: str) -> None:
    clinicians = {r["c"] for r in query(
        warehouse, "select distinct clinician_id as c from ehr_time_by_clinician_period union "
        "select distinct clinician_id from ehr_time_by_clinician_day")}
    assert len(clinicians) == 12
    for clinician in clinicians:
        assert clinician not in html_text, clinician
    assert not re.search(r"\bC\d{4}\b", page_only)
    # No patient key of the lake (a 64-bit integer: in decimal or hex), and no 64-hex string the
    # dashboard wrote (the only one in the page is inside the plotly.js library itself).
    keys = {r[0] for r in duckdb.sql(
        "select distinct patient_key from read_parquet($p, hive_partitioning = true) "
        "where patient_key is not null",
        params={"p": str(warehouse / "lake" / "events" / "**" / "*.parquet")}).fetchall()}
    assert len(keys) > 100
    assert not [k for k in keys if str(k) in html_text or f"{k:016x}" in html_text]
    assert not re.search(r"(?<![0-9A-Fa-f])[0-9A-Fa-f]{64}(?![0-9A-Fa-f])", page_only)
    # And no clinician-level figure: no person's EHR hours appear at full precision.
    hours = {r["h"] for r in query(warehouse, "select ehr_hours as h from "
                                   "ehr_time_by_clinician_period where ehr_hours > 0")}
    assert not [h for h in hours if repr(h) in page_only]


def test_suppressed_departments_are_labelled_and_show_no_figure(warehouse: Path, html_text: str,
                                                                page_only: str) -> None:
    latest = latest_period(warehouse)
    rows = query(warehouse, "select * from ehr_time_by_department_period where period_start = $p",
                 {"p": latest})
    suppressed = {r["department"] for r in rows if r["is_suppressed"]}
    shown = {r["department"]: r for r in rows if not r["is_suppressed"]}
    assert suppressed and shown, "the sample should have both kinds of department"
    n = int(setting(warehouse, "min_cell_size"))
    label = SUPPRESSED.format(n=n)

    # The table: a suppressed department's row says so and holds no number but the cell size.
    for department in suppressed:
        row = re.search(rf'<tr[^>]*data-department="{re.escape(department)}"[^>]*>(.*?)</tr>',
                        html_text, re.S)
        assert row and 'data-suppressed="true"' in row.group(0), department
        assert label in row.group(1)
        cells = re.sub(r"<[^>]*>", " ", row.group(1)).replace(label, "")
        assert not re.search(r"\d", cells), row.group(1)
    # Positive control: an unsuppressed department's row carries its figures.
    for department, r in shown.items():
        row = re.search(rf'<tr[^>]*data-department="{re.escape(department)}"[^>]*>(.*?)</tr>',
                        html_text, re.S).group(1)
        assert f"{r['wow8_median']:.2f}" in row and f"{r['ehr_time8_median']:.2f}" in row
        assert label not in row

    # The chart: no point or bar for a suppressed department, a label instead.
    spec = chart_spec(html_text, "chart-departments")
    ticks = spec["layout"]["yaxis"]["ticktext"]
    assert set(ticks) == suppressed | set(shown)
    medians = [t for t in spec["data"] if t.get("error_x")]
    assert len(medians) >= 2
    for trace in medians:
        for i, department in enumerate(ticks):
            values = (trace["x"][i], trace["error_x"]["array"][i],
                      trace["error_x"]["arrayminus"][i])
            if department in suppressed:
                assert values == (None, None, None), (department, values)
            else:
                assert None not in values
    noted = [a for a in spec["layout"]["annotations"] if label in a.get("text", "")]
    assert {ticks[a["y"]] for a in noted} == suppressed
    assert {trace["x"][ticks.index(d)] for d in shown for trace in medians} >= {
        shown[d][m] for d in shown for m in ("wow8_median", "ehr_time8_median")}

    # What the suppressed figures would have been is nowhere in the page.
    hidden = query(warehouse, """
        select department, quantile_cont(wow8, 0.25) a, quantile_cont(wow8, 0.5) b,
               quantile_cont(wow8, 0.75) c, quantile_cont(ehr_time8, 0.25) d,
               quantile_cont(ehr_time8, 0.5) e, quantile_cont(ehr_time8, 0.75) f
        from ehr_time_by_clinician_period
        where period_start = $p and scheduled_hours >= $h and department in $d
        group by department""", {"p": latest, "h": float(setting(warehouse, "min_scheduled_hours")),
                                 "d": sorted(suppressed)})
    leaked = [v for r in hidden for k, v in r.items() if k != "department" and v is not None
              and repr(v) in page_only]
    assert leaked == []


def test_categories_are_organisation_sums_per_8_scheduled_hours(warehouse: Path,
                                                                html_text: str) -> None:
    spec = chart_spec(html_text, "chart-categories")
    traces = {t["name"]: t for t in spec["data"] if t["type"] == "bar"}
    assert list(traces) == ["Inbox", "Notes (documentation)", "Orders", "Chart review", "Other"]
    assert spec["layout"]["barmode"] == "stack"
    assert "hours per 8 scheduled hours" in spec["layout"]["yaxis"]["title"]["text"]
    expected = query(warehouse, """
        select period_start, count(*) as n,
               sum(inbox_hours) * 8 / sum(scheduled_hours) as inbox,
               sum(notes_hours) * 8 / sum(scheduled_hours) as notes,
               sum(ehr_hours) as ehr, sum(inbox_hours) as inbox_hours
        from ehr_time_by_clinician_period where scheduled_hours >= $h
        group by period_start order by period_start""",
                     {"h": float(setting(warehouse, "min_scheduled_hours"))})
    assert len(expected) == len(traces["Inbox"]["x"]) >= 2
    for i, r in enumerate(expected):
        assert r["n"] >= int(setting(warehouse, "min_cell_size"))
        assert traces["Inbox"]["y"][i] == pytest.approx(r["inbox"])
        assert traces["Notes (documentation)"]["y"][i] == pytest.approx(r["notes"])
        assert traces["Inbox"]["text"][i] == f"{100 * r['inbox_hours'] / r['ehr']:.0f}%"


# --------------------------------------------------------------------------------------------
# Edge cases: the page is built, and says what is missing, for unusual publications.


def _variant(warehouse: Path, tmp_path: Path, statements: list[str]) -> str:
    target = tmp_path / "warehouse"
    target.mkdir()
    shutil.copy(warehouse / "wow.duckdb", target / "wow.duckdb")
    with duckdb.connect(str(target / "wow.duckdb")) as con:
        for statement in statements:
            con.execute(statement)
    path = build_dashboard(target)
    text = path.read_text(encoding="utf-8")
    for chart_id in CHART_IDS:
        assert f'<div id="{chart_id}"' in text
        chart_spec(text, chart_id)
    return text


def _null_figures(table: str, warehouse: Path) -> str:
    columns = [r["column_name"] for r in query(
        warehouse, "select column_name from duckdb_columns() where table_name = $t and "
        "data_type = 'DOUBLE' and column_name <> 'wow_threshold_hours_per_fte_week'",
        {"t": table})]
    return f"update {table} set is_suppressed = true, " + ", ".join(f"{c} = null" for c in columns)


def test_no_period_at_all(warehouse: Path, tmp_path: Path) -> None:
    text = _variant(warehouse, tmp_path, [
        "delete from efficiency_of_practice_by_period", "delete from ehr_time_by_department_period",
        "delete from ehr_time_by_clinician_period"])
    assert "No period has been published yet" in text
    assert "No department figures" in text


def test_every_department_and_the_organisation_suppressed(warehouse: Path, tmp_path: Path) -> None:
    text = _variant(warehouse, tmp_path, [
        _null_figures("ehr_time_by_department_period", warehouse),
        _null_figures("efficiency_of_practice_by_period", warehouse),
        "update metric_definitions set value = '50' where name = 'min_cell_size'"])
    label = SUPPRESSED.format(n=50)
    assert text.count('data-suppressed="true"') == 5 and 'data-suppressed="false"' not in text
    assert text.count(f'<div class="kpi-value">{label}</div>') == 6
    spec = chart_spec(text, "chart-departments")
    assert all(x is None for t in spec["data"] if t.get("error_x") for x in t["x"])
    # The organisation's category sums (12 clinicians) are suppressed under a cell size of 50.
    categories = chart_spec(text, "chart-categories")
    assert all(y is None for t in categories["data"] for y in t["y"])
    assert any(label in a["text"] for a in categories["layout"]["annotations"])


def test_one_period_only_has_no_change(warehouse: Path, tmp_path: Path) -> None:
    latest = latest_period(warehouse)
    change = ", ".join(f"{r['column_name']} = null" for r in query(
        warehouse, "select column_name from duckdb_columns() where table_name = "
        "'efficiency_of_practice_by_period' and column_name like '%_change'"))
    text = _variant(warehouse, tmp_path, [
        f"delete from {t} where period_start < DATE '{latest}'" for t in (
            "efficiency_of_practice_by_period", "ehr_time_by_department_period",
            "ehr_time_by_clinician_period")] + [
        f"update efficiency_of_practice_by_period set previous_period_start = null, {change}, "
        "is_complete_period = true, coverage_days = period_days"])
    assert text.count("no previous period to compare") == 6
    assert " vs " not in re.sub(r"<script.*?</script>", "", text, flags=re.S)


def test_null_medians_show_a_dash(warehouse: Path, tmp_path: Path) -> None:
    text = _variant(warehouse, tmp_path, [
        "update efficiency_of_practice_by_period set wow8_median = null, wow8_median_change = null, "
        "is_complete_period = true, coverage_days = period_days",
        "update ehr_time_by_department_period set wow8_median = null, wow8_p25 = null"])
    card = re.search(r'data-metric="wow8_median">(.*?)</span></div>', text, re.S).group(1)
    assert '<div class="kpi-value">\u2014</div>' in card and "no comparison with" in card
    assert "\u2014 <small>(\u2014\u2013" in text


# --------------------------------------------------------------------------------------------
# A real browser: headless Chromium opens the file with every network name unresolvable.


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's chromium; installed with apt-get when missing (CI runs as root with apt)."""
    if not CHROMIUM.exists():
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for command in (["apt-get", "update"], ["apt-get", "install", "-y", "chromium"]):
            try:
                done = subprocess.run(command, env=env, capture_output=True, text=True,
                                      timeout=APT_TIMEOUT)
            except (OSError, subprocess.TimeoutExpired) as exc:
                pytest.fail(f"the dashboard test needs Chromium at {CHROMIUM}; "
                            f"`{' '.join(command)}` could not run: {exc}")
            if done.returncode != 0:
                pytest.fail(f"the dashboard test needs Chromium at {CHROMIUM}; "
                            f"`{' '.join(command)}` failed (no apt access or not root?):\n"
                            f"{done.stderr[-2000:]}")
        if not CHROMIUM.exists():
            pytest.fail(f"apt-get installed chromium but {CHROMIUM} is still missing")
    return CHROMIUM


def _browse(chromium: Path, page: Path, profile: Path, *extra: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    command = [str(chromium), "--headless=new", "--no-sandbox", "--disable-gpu",
               "--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check",
               "--disable-extensions", "--hide-scrollbars", f"--user-data-dir={profile}",
               "--run-all-compositor-stages-before-draw",  # paint the whole window, every time
               "--host-resolver-rules=MAP * ~NOTFOUND",  # offline: no name resolves
               "--virtual-time-budget=10000", "--window-size=1400,2400", *extra,
               page.resolve().as_uri()]
    done = subprocess.run(command, capture_output=True, text=True, timeout=BROWSER_TIMEOUT,
                          env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"}


class _ChartScanner(HTMLParser):
    """Per chart div: the class names and text of everything rendered inside it."""

    def __init__(self, ids) -> None:
        super().__init__()
        self.ids = set(ids)
        self.stack: list[str | None] = []
        self.classes: dict[str, Counter] = {i: Counter() for i in self.ids}
        self.text: dict[str, list[str]] = {i: [] for i in self.ids}
        self.found: set[str] = set()

    def _inside(self) -> list[str]:
        return [i for i in self.stack if i is not None]

    def _record(self, attrs: dict) -> None:
        for chart in self._inside():
            self.classes[chart].update((attrs.get("class") or "").split())

    def handle_starttag(self, tag, attrs) -> None:
        attrs = dict(attrs)
        if tag in VOID:
            self._record(attrs)
            return
        chart = attrs.get("id") if attrs.get("id") in self.ids else None
        if chart:
            self.found.add(chart)
        self.stack.append(chart)
        self._record(attrs)

    def handle_startendtag(self, tag, attrs) -> None:
        self._record(dict(attrs))

    def handle_endtag(self, tag) -> None:
        if tag not in VOID and self.stack:
            self.stack.pop()

    def handle_data(self, data) -> None:
        for chart in self._inside():
            self.text[chart].append(data)


def rendered_charts(dom: str) -> dict[str, dict[str, Any]]:
    """For each chart id: whether Plotly drew it (an SVG with traces and points) and its text."""
    scanner = _ChartScanner(CHART_IDS)
    scanner.feed(dom)
    scanner.close()
    out = {}
    for chart in CHART_IDS:
        classes = scanner.classes[chart]
        out[chart] = {
            "present": chart in scanner.found,
            "svg": classes["main-svg"],
            "traces": classes["trace"],
            "points": classes["point"],
            "errorbars": classes["errorbar"],
            "text": " ".join(scanner.text[chart]),
        }
    return out


def test_chart_check_fails_on_an_empty_chart() -> None:
    """The browser test's check can fail: an undrawn div has no SVG, trace or point."""
    drawn = ('<svg class="main-svg"><g class="trace bars"><g class="points">'
             '<g class="point"><path/></g></g></g></svg>')
    dom = (f'<div id="chart-trend" class="chart"></div><div id="chart-departments">{drawn}</div>'
           f'<p><div id="chart-categories"><div>{drawn}</div><br></div></p>')
    charts = rendered_charts(dom)
    assert charts["chart-trend"]["present"] and charts["chart-trend"]["svg"] == 0
    assert charts["chart-trend"]["traces"] == charts["chart-trend"]["points"] == 0
    for chart in ("chart-departments", "chart-categories"):
        assert charts[chart]["svg"] == charts[chart]["traces"] == charts[chart]["points"] == 1


@pytest.fixture(scope="module")
def dom(chromium: Path, page: Path, tmp_path_factory) -> str:
    profile = tmp_path_factory.mktemp("chromium-dom")
    return _browse(chromium, page, profile, "--dump-dom").stdout


def test_chromium_draws_every_chart_offline(dom: str, warehouse: Path) -> None:
    assert "</html>" in dom
    charts = rendered_charts(dom)
    for chart_id, chart in charts.items():
        assert chart["present"], chart_id
        assert chart["svg"] >= 1, f"{chart_id}: Plotly drew no SVG"
        assert chart["traces"] >= 1 and chart["points"] >= 2, f"{chart_id}: no trace drawn"
        assert "could not be drawn" not in chart["text"], chart["text"]
    assert charts["chart-trend"]["traces"] >= 6  # 5 lines and the % bars
    assert charts["chart-categories"]["traces"] >= 5  # one per category
    assert charts["chart-departments"]["errorbars"] >= 1  # the p25-p75 bars
    n = int(setting(warehouse, "min_cell_size"))
    suppressed = query(warehouse, "select count(*) as n from ehr_time_by_department_period "
                       "where is_suppressed and period_start = $p", {"p": latest_period(warehouse)})
    label = SUPPRESSED.format(n=n)
    assert charts["chart-departments"]["text"].count(label) == 2 * suppressed[0]["n"]
    assert "WOW per 8 scheduled hours" in charts["chart-departments"]["text"]


def test_chromium_screenshot(chromium: Path, page: Path, tmp_path_factory) -> None:
    tmp = tmp_path_factory.mktemp("chromium-shot")
    png = tmp / "dashboard.png"
    _browse(chromium, page, tmp / "profile", f"--screenshot={png}")
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (1400, 2400)
    assert len(data) > 20_000, f"screenshot is only {len(data)} bytes: a blank page?"
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copy(png, ARTIFACTS / "dashboard.png")
