"""The gate's checks that need no Great Expectations: DuckDB audits, the check result both kinds
of check give, and the report page.

DuckDB runs each contract invariant (its SQL returns the bad rows: zero rows pass) and the
per-column checks of a table checked in place (`validate_in: duckdb`). With
WOW_GATE_ENGINE=duckdb (tests/conftest.py sets it for the tests that are not about the gate),
DuckDB runs every table's column list and column checks too, GX is not imported and no GX Data
Docs are written: the same rules, each evaluated by its DuckDB bad-rows query (the gate tests
show both engines count the same bad rows for every kind of column check).
"""

from __future__ import annotations

import html
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from wow_metrics.contracts import Contract
from wow_metrics.files import replace_dir
from wow_metrics.warehouse import sql_list, sql_literal

EXAMPLE_ROWS = 3
AUDIT_ROWS = 20  # bad rows a DuckDB audit fetches (in `order by all` order) for its report
DUCKDB_AUDIT = "duckdb_audit"  # the `expectation` of a check DuckDB ran
GX_DOCS = "gx"  # GX's Data Docs site, inside the report folder
GATE_ENGINE = "WOW_GATE_ENGINE"  # gx (the default) or duckdb: who runs the column checks


def gate_engine() -> str:
    """`gx` (GX runs column lists and column checks of pandas tables) or `duckdb` (DuckDB runs
    every check), from WOW_GATE_ENGINE."""
    engine = os.environ.get(GATE_ENGINE, "gx").strip().lower() or "gx"
    if engine not in ("gx", "duckdb"):
        raise ValueError(f"{GATE_ENGINE}={engine!r}: expected gx or duckdb")
    return engine


@dataclass
class CheckResult:
    """One check's outcome, as validation_results and the CLI show it."""

    table_name: str
    check_name: str
    expectation: str  # the GX expectation type, or DUCKDB_AUDIT
    severity: str
    success: bool
    failing_rows: int
    observed_value: str | None
    examples: list = field(default_factory=list)
    description: str = ""
    sql: str = ""  # the bad-rows query of a DuckDB audit, for the report
    docs: str = ""  # the GX Data Docs site (in the report folder) of a GX check, for the report


def in_gx(contract: Contract) -> bool:
    """Whether GX runs the table's column checks (on a pandas copy), rather than DuckDB."""
    return contract.validate_in == "pandas"


# --------------------------------------------------------------------------------------------
# DuckDB: the invariants, and the column checks of a table checked in place
# --------------------------------------------------------------------------------------------

def _audit(con, table: str, check_name: str, severity: str, sql: str, description: str,
           failing: int | None = None) -> CheckResult:
    """Run one bad-rows query: its count and its first rows (in a fixed order, so the examples
    do not depend on the number of threads). `failing = 0`: already counted, nothing to run."""
    if failing == 0:
        return CheckResult(table, check_name, DUCKDB_AUDIT, severity, True, 0, "0", [],
                           description, sql)
    try:
        cur = con.execute(f"select *, count(*) over () as wow_n_rows from ({sql}) "
                          f"order by all limit {AUDIT_ROWS}")
        rows = cur.fetchall()
    except Exception as exc:  # noqa: BLE001 (a check that cannot run has not passed)
        return CheckResult(table, check_name, DUCKDB_AUDIT, severity, False, 0,
                           f"error: {exc}"[:500], [], description, sql)
    n = rows[0][-1] if rows else 0
    return CheckResult(table, check_name, DUCKDB_AUDIT, severity, n == 0, n, str(n),
                       [r[:-1] for r in rows], description, sql)


def _row_check_counts(con, contract: Contract) -> dict[str, int]:
    """The bad rows of every per-row column check of `contract`, counted in one scan (a lake of
    thousands of Parquet files is read once, not once per check)."""
    checks = [(f"{col.name}.{check.kind}", check.bad_row_condition(col.name))
              for col in contract.columns for check in col.all_checks() if not check.unique]
    if not checks:
        return {}
    try:
        counts = con.execute("select " + ", ".join(f"count(*) filter (where {condition})"
                                                   for _, condition in checks)
                             + f" from {contract.table}").fetchall()[0]
    except Exception:  # noqa: BLE001 (each check then runs, and fails, on its own)
        return {}
    return {name: n for (name, _), n in zip(checks, counts, strict=True)}


def audits_for(con, contract: Contract, columns: bool = False) -> list[CheckResult]:
    """Every check of `contract` that DuckDB runs, in contract order (with `columns`, the
    column list and the column checks of a table GX would check too)."""
    table = contract.table
    out: list[CheckResult] = []
    if columns:
        out.append(_columns_audit(con, contract))
    if columns or not in_gx(contract):
        counts = _row_check_counts(con, contract)
        for col in contract.columns:
            for check in col.all_checks():
                name = f"{col.name}.{check.kind}"
                result = _audit(con, table, name, check.severity,
                                check.bad_rows_sql(table, col.name),
                                f"{col.name}: {check.kind} check", counts.get(name))
                result.examples = result.examples[:EXAMPLE_ROWS]
                out.append(result)
    for inv in contract.invariants:
        result = _audit(con, table, inv.name, inv.severity, inv.sql, inv.description)
        result.examples = result.examples[:EXAMPLE_ROWS]
        out.append(result)
    return out


def _columns_audit(con, contract: Contract) -> CheckResult:
    """The table's column list, in order, against the contract's (GX's
    expect_table_columns_to_match_ordered_list), as a bad-rows query: one row per position
    where they differ."""
    expected = sql_list([c.name for c in contract.columns])
    sql = (f"with want as (select unnest({expected}) as column_name, "
           f"generate_subscripts({expected}, 1) as pos), "
           f"have as (select column_name, ordinal_position as pos from information_schema.columns "
           f"where table_name = {sql_literal(contract.table)} "
           f"and table_schema = current_schema()) "
           f"select pos, want.column_name as expected, have.column_name as found "
           f"from want full join have using (pos) "
           f"where want.column_name is distinct from have.column_name")
    return _audit(con, contract.table, "columns", "critical", sql,
                  "the table's columns, in order, are the contract's")


def run_in_duckdb(con, contracts: dict[str, Contract], tables: list[str],
                  docs_dir: Path | None = None) -> list[CheckResult]:
    """Every check of each table run by DuckDB (WOW_GATE_ENGINE=duckdb); the report page
    without GX Data Docs."""
    staging = report_staging(docs_dir)
    outcomes = [o for table in tables for o in audits_for(con, contracts[table], columns=True)]
    if staging is not None and docs_dir is not None:
        publish_report(staging, docs_dir, outcomes)
    return outcomes


def report_staging(docs_dir: Path | None) -> Path | None:
    """The emptied side folder a run's report is written into (None: no report)."""
    if docs_dir is None:
        return None
    staging = docs_dir.with_name(docs_dir.name + ".building")
    shutil.rmtree(staging, ignore_errors=True)
    return staging


def publish_report(staging: Path, docs_dir: Path, outcomes: list[CheckResult]) -> None:
    """Write the report page into `staging` (beside whatever else was built there, GX's Data
    Docs), then swap the folder in as docs_dir."""
    staging.mkdir(parents=True, exist_ok=True)
    write_report(staging / "index.html", outcomes)
    replace_dir(staging, docs_dir)


# --------------------------------------------------------------------------------------------
# the report page: every check, GX's and DuckDB's, beside GX's Data Docs
# --------------------------------------------------------------------------------------------

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Validation report</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem; color: #222; }}
table {{ border-collapse: collapse; margin-bottom: 2rem; width: 100%; }}
th, td {{ border-bottom: 1px solid #ddd; padding: .3rem .5rem; text-align: left;
          vertical-align: top; font-size: .9rem; }}
tr.failed-critical td {{ background: #fde2e1; }}
tr.failed-warning td {{ background: #fff4d6; }}
code, pre {{ font-size: .8rem; white-space: pre-wrap; }}
</style></head><body>
<h1>Validation report</h1>
<p>{summary}</p>
<p>Every contract check of this run (<code>schemas/contracts/&lt;table&gt;.yml</code>), as
<code>validation_results</code> records it. <em>GX</em> checks are Great Expectations
expectations: their pages are in the {gx}.
<em>DuckDB audit</em> checks are queries that return the bad rows (zero rows pass); each shows
its query, to run in DuckDB.</p>
{failed}
{tables}
</body></html>
"""


def _row(o: CheckResult) -> str:
    state = "passed" if o.success else f"failed-{o.severity}"
    by = (f"DuckDB audit<details><summary>query</summary><pre>{html.escape(o.sql)}</pre>"
          "</details>" if o.expectation == DUCKDB_AUDIT
          else f'GX <a href="{o.docs or GX_DOCS}/index.html"><code>'
               f"{html.escape(o.expectation)}</code></a>")
    examples = html.escape(repr(o.examples)) if o.examples else ""
    return (f'<tr class="{state}"><td><code>{html.escape(o.table_name)}.'
            f"{html.escape(o.check_name)}</code></td><td>{by}</td><td>{o.severity}</td>"
            f"<td>{'pass' if o.success else 'FAIL'}</td><td>{o.failing_rows}</td>"
            f"<td>{html.escape(o.observed_value or '')}</td><td><code>{examples}</code></td>"
            f"<td>{html.escape(o.description)}</td></tr>")


def _table(title: str, rows: list[CheckResult]) -> str:
    head = ("<tr><th>check</th><th>by</th><th>severity</th><th>result</th><th>failing rows</th>"
            "<th>observed</th><th>examples</th><th>rule</th></tr>")
    return (f"<h2>{html.escape(title)}</h2><table>{head}"
            + "".join(_row(o) for o in rows) + "</table>")


def write_report(path: Path, outcomes: list[CheckResult]) -> None:
    """The report page: failed checks first, then every check by table."""
    failed = [o for o in outcomes if not o.success]
    critical = sum(o.severity == "critical" for o in failed)
    summary = (f"{len(outcomes)} checks: {len(outcomes) - len(failed)} passed, {critical} "
               f"critical failed (publication blocked)" if critical else
               f"{len(outcomes)} checks: {len(outcomes) - len(failed)} passed, "
               f"{len(failed)} warning(s) failed, no critical failure")
    tables: dict[str, list[CheckResult]] = {}
    for o in outcomes:
        tables.setdefault(o.table_name, []).append(o)
    sites = sorted({o.docs or GX_DOCS for o in outcomes if o.expectation != DUCKDB_AUDIT}
                   or {GX_DOCS})
    links = (f'<a href="{sites[0]}/index.html">GX Data Docs</a>' if len(sites) == 1 else
             "GX Data Docs, one site for the tables each of GX's processes validated: "
             + ", ".join(f'<a href="{s}/index.html"><code>{s}/</code></a>' for s in sites))
    path.write_text(_PAGE.format(
        summary=html.escape(summary), gx=links,
        failed=_table("Failed checks", failed) if failed else "",
        tables="".join(_table(t, rows) for t, rows in tables.items())), encoding="utf-8")
