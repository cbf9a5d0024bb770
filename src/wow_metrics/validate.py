"""The publication gate: every table contract's checks and invariants, run before publishing.

A failed critical check blocks publication (the previous warehouse stays what readers see); a
failed warning is recorded and reported. Every result goes to `validation_results`.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field

from wow_metrics.contracts import load_contracts
from wow_metrics.lake import Lake

EXAMPLE_ROWS = 3


@dataclass
class ValidationReport:
    """What the gate found: failed critical checks block, warnings do not."""

    critical: dict[str, list[tuple]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    checks_run: int = 0
    seconds: float = 0.0


def create_contract_inputs(con, lake: Lake) -> None:
    """Name, in the finishing database, the non-published tables that contracts describe."""
    live = {r["content_sha256"] for r in lake.load_manifest() if r["status"] == "ingested"}
    files = [str(p) for p in lake.live_event_files(lake.load_manifest()) if p.stem in live]
    if files:
        # Read the lake's many small files once; every events check then scans memory.
        con.execute("create or replace temp table canonical_events as select * "
                    "from read_parquet($f, hive_partitioning = false)", {"f": files})
    for table in ("roster", "schedule"):
        con.execute(f"create or replace view {table} as select * exclude (reject_reason, "
                    f"is_replaced) from stg_{table} where reject_reason is null and not is_replaced")


def validate(con, lake: Lake, run_id: str) -> ValidationReport:
    """Run every contract's checks on the tables present; write validation_results."""
    started = time.perf_counter()
    create_contract_inputs(con, lake)
    present = {r[0] for r in con.execute(
        "select table_name from information_schema.tables").fetchall()}
    report = ValidationReport()
    results = []
    now = dt.datetime.now(dt.UTC)
    for table, contract in sorted(load_contracts().items()):
        if table not in present:
            continue
        checks = [(name, severity, sql, f"check {name}")
                  for name, severity, sql in contract.check_queries()]
        checks += [(inv.name, inv.severity, inv.sql, inv.description) for inv in contract.invariants]
        # One query counts every check's bad rows (per-query overhead dominates otherwise);
        # examples are fetched only for the checks that failed.
        counts = con.execute(" union all ".join(
            f"select {i} as check_no, count(*) as bad from ({sql.strip().rstrip(';')})"
            for i, (_, _, sql, _) in enumerate(checks))).fetchall()
        bad_by_check = dict(counts)
        for i, (name, severity, sql, description) in enumerate(checks):
            bad = bad_by_check[i]
            examples = con.execute(
                f"select * from ({sql.strip().rstrip(';')}) limit {EXAMPLE_ROWS}").fetchall() \
                if bad else []
            report.checks_run += 1
            results.append({"run_id": run_id, "table_name": table, "check_name": name,
                            "severity": severity, "success": bad == 0, "failing_rows": bad,
                            "examples": repr(examples) if examples else None, "checked_at": now})
            if bad and severity == "critical":
                report.critical[f"{table}.{name}"] = examples
            elif bad:
                report.warnings.append(f"{table}.{name}: {description} {bad} row(s), "
                                       f"e.g. {examples}")
    con.execute("""create or replace table validation_results (run_id VARCHAR, table_name VARCHAR,
        check_name VARCHAR, severity VARCHAR, success BOOLEAN, failing_rows BIGINT,
        examples VARCHAR, checked_at TIMESTAMPTZ)""")
    if results:
        import pyarrow as pa

        rows = pa.Table.from_pylist(results)  # noqa: F841 (read by DuckDB's replacement scan)
        con.execute("insert into validation_results select run_id, table_name, check_name, "
                    "severity, success, failing_rows, examples, checked_at from rows")
    report.seconds = time.perf_counter() - started
    return report
