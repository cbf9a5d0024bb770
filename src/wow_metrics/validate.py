"""The publication gate: every contract check (GX expectations and DuckDB audits), before publishing.

A failed critical check blocks publication (the previous warehouse stays what readers see); a
failed warning is recorded and reported. Every result goes to `validation_results`, and the
run's validation report (published or blocked), with GX's Data Docs beside it, is written to
`<warehouse>/docs/` (see gx_suites).
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from pathlib import Path

from wow_metrics import gx_process
from wow_metrics import warehouse as wh
from wow_metrics.contracts import load_contracts, with_severities
from wow_metrics.gate_checks import gate_engine, run_in_duckdb
from wow_metrics.lake import Lake


@dataclass
class ValidationReport:
    """What the gate found: failed critical checks block, warnings do not."""

    critical: dict[str, list[tuple]] = field(default_factory=dict)
    failing_counts: dict[str, int] = field(default_factory=dict)
    descriptions: dict[str, str] = field(default_factory=dict)  # of the failed critical checks
    warnings: list[str] = field(default_factory=list)
    checks_run: int = 0
    seconds: float = 0.0
    docs_index: Path | None = None
    events_checked: int = 0


def create_contract_inputs(con, lake: Lake, validated: set[str] | frozenset = frozenset(),
                           known_rows: dict[str, tuple[int, int, int]] | None = None) -> int:
    """Name, in the finishing database, the non-published tables that contracts describe.

    `canonical_events` holds the rows of the live extracts not in `validated` (the content hashes
    a previous gate passed: lake files are immutable, so each is checked once, when it arrives).
    `lake_file_rows` counts the rows of every live lake file: from its Parquet footer, or, for a
    file of a `validated` extract whose size and modification time are those in `known_rows`
    (what the last publication's gate read, by file name under the lake's events folder: rows,
    size, mtime in ns), from there; so a night reads the footers of its new files, and of any
    file rewritten since. A file gone from the lake counts nothing either way.
    `lake_extract_rows` sums them per extract. Returns the number of events rows to check.
    """
    manifest = lake.load_manifest()
    paths = {r["content_sha256"]: r["file_path"] for r in manifest if r["status"] == "ingested"}
    files = lake.live_event_files(manifest)
    new = [str(p) for p in files if p.stem not in validated]
    if new:  # a view, not a copy: each check reads only the columns it needs from the Parquet
        wh.run_model_file(con, "sources/canonical_events.sql", {"lake_event_files": new})
    elif files:  # nothing new: an empty table of the lake's shape, so its checks still run
        wh.run_model_file(con, "sources/canonical_events_none.sql", name="canonical_events")
    counts = _lake_file_counts(con, lake, files, validated, known_rows or {})
    names = sorted(counts)
    wh.run_model_file(con, "sources/lake_file_rows.sql", {"lake_file_rows": [
        {"file_name": n, "rows": counts[n][0], "size_bytes": counts[n][1],
         "modified_ns": counts[n][2]} for n in names]})
    totals: dict[str, int] = {}
    for name, (rows, _, _) in counts.items():
        source = paths[Path(name).stem]
        totals[source] = totals.get(source, 0) + rows
    wh.run_model_file(con, "sources/lake_extract_rows.sql", {"lake_extract_rows": [
        {"source_file": source, "lake_rows": rows} for source, rows in totals.items()]})
    for table in ("roster", "schedule"):
        wh.run_model_file(con, f"gate/{table}.sql")
    return con.execute("select count(*) from canonical_events").fetchall()[0][0] if files else 0


def _lake_file_counts(con, lake: Lake, files: list[Path], validated: set[str] | frozenset,
                      known_rows: dict[str, tuple[int, int, int]]
                      ) -> dict[str, tuple[int, int, int]]:
    """(rows, size in bytes, mtime in ns) of each live lake events file, by name under the
    lake's events folder: from known_rows for an unchanged file of a validated extract, else
    from its Parquet footer."""
    events_root = lake.root / "events"
    counts: dict[str, tuple[int, int, int]] = {}
    unread: dict[str, tuple[int, int]] = {}
    for path in files:
        name = path.relative_to(events_root).as_posix()
        stat = path.stat()
        seen = (stat.st_size, stat.st_mtime_ns)
        if path.stem in validated and name in known_rows and known_rows[name][1:] == seen:
            counts[name] = known_rows[name]
        else:
            unread[str(path)] = seen
    if unread:
        for file_name, rows in con.execute(
                "select file_name, num_rows from parquet_file_metadata($f)",
                {"f": list(unread)}).fetchall():
            counts[Path(file_name).relative_to(events_root).as_posix()] = (rows, *unread[file_name])
    return counts


def validate(con, lake: Lake, run_id: str, docs_dir: Path | None = None,
             tables: list[str] | None = None,
             validated_extracts: set[str] | frozenset = frozenset(),
             known_lake_rows: dict[str, tuple[int, int, int]] | None = None,
             ) -> ValidationReport:
    """Run the checks of every contracted table present; write validation_results and the report.

    validated_extracts: content hashes of lake extracts an earlier publication's gate passed
    (an incremental run); their events are not checked again, and their lake files' row counts
    are taken from known_lake_rows when it has them (see create_contract_inputs).
    """
    started = time.perf_counter()
    report_events = create_contract_inputs(con, lake, validated_extracts, known_lake_rows)
    settings = dict(con.execute("select name, value from metric_definitions where kind = "
                                "'setting'").fetchall()) if _has_table(con, "metric_definitions") else {}
    contracts = with_severities(load_contracts(), settings)
    present = {r[0] for r in con.execute(
        "select table_name from information_schema.tables").fetchall()}
    chosen = [t for t in sorted(contracts) if t in present and t != "validation_results"
              and (tables is None or t in tables)]
    if gate_engine() == "duckdb":  # every check in DuckDB: GX is not imported (gate_checks)
        outcomes = run_in_duckdb(con, contracts, chosen, docs_dir=docs_dir)
    else:  # GX in the process the run started (gx_process.start), or in this one
        outcomes = gx_process.run_suites(con, contracts, chosen, docs_dir=docs_dir,
                                         run_id=run_id)
    report = gate_report(outcomes)
    write_validation_results(con, outcomes, run_id)
    report.events_checked = report_events
    if docs_dir is not None:
        report.docs_index = docs_dir / "index.html"
    report.seconds = time.perf_counter() - started
    return report


def _has_table(con, name: str) -> bool:
    return bool(con.execute("select count(*) from information_schema.tables where table_name = $n",
                            {"n": name}).fetchone()[0])


def gate_report(outcomes) -> ValidationReport:
    """Sort outcomes into blocking failures and warnings."""
    report = ValidationReport(checks_run=len(outcomes))
    for o in outcomes:
        if o.success:
            continue
        name = f"{o.table_name}.{o.check_name}"
        if o.severity == "critical":
            report.critical[name] = [tuple(e) if isinstance(e, list | tuple) else (e,)
                                     for e in o.examples]
            report.failing_counts[name] = o.failing_rows
            if o.description:
                report.descriptions[name] = o.description
        else:
            what = o.description or o.expectation
            report.warnings.append(f"{name}: {what} {o.failing_rows} row(s), e.g. {o.examples}")
    return report


def write_validation_results(con, outcomes, run_id: str) -> None:
    """validation_results: this run's outcome of every expectation (validation_results' own
    contract is checked after it is written, by the same runner)."""
    now = dt.datetime.now(dt.UTC)
    wh.run_model_file(con, "gate/validation_results.sql", {"check_results": [
        {"run_id": run_id, "table_name": o.table_name, "check_name": o.check_name,
         "expectation": o.expectation, "severity": o.severity, "success": o.success,
         "failing_rows": o.failing_rows, "observed_value": o.observed_value,
         "examples": repr(o.examples) if o.examples else None, "checked_at": now}
        for o in outcomes]})
