"""The publication gate's checks: GX Core's column expectations, and DuckDB audits for the rest.

Every contract is checked by exactly one mechanism per kind of check, through public APIs only:
- GX (its documented API: an ephemeral context, a pandas data source, built-in expectations)
  checks a table's column list, and, for a table copied into pandas (`validate_in: pandas`, the
  default), each per-column check (not null, unique, between, in set) as GX's own column
  expectation;
- DuckDB runs each invariant (the contract's SQL, which returns the bad rows: zero rows pass),
  and the per-column checks of a `validate_in: duckdb` table (the lake's events, millions of
  rows: not copied into pandas; one scan counts the bad rows of every per-row check). GX Core
  evaluates its `UnexpectedRowsExpectation` on SQL data sources only, and its SQL data source
  cannot reflect DuckDB tables here, so the audits are run as plain DuckDB queries.

Both kinds of result are `CheckResult`s with the same fields (validation_results, the CLI and
the dashboard read them alike), and both are in the report a run writes to `<warehouse>/docs/`:
`index.html` lists every check and its outcome, and links GX's Data Docs (`gx/index.html`).

GX is imported here only (about 3 s of one core), in the process gx_process starts for a run
(or in the run's own process); analytics are off before import.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Any

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

import great_expectations as gx  # noqa: E402
import great_expectations.expectations as gxe  # noqa: E402
from great_expectations.data_context.types.base import (  # noqa: E402 (both @public_api)
    DataContextConfig,
    InMemoryStoreBackendDefaults,
)

from wow_metrics.contracts import Check, Contract  # noqa: E402
from wow_metrics.gate_checks import EXAMPLE_ROWS, GX_DOCS, CheckResult, in_gx  # noqa: E402

# GX logs at INFO (one of its modules sets its own logger so); a nightly log wants less.
for _logger in ("great_expectations", "great_expectations.data_context.types.base"):
    logging.getLogger(_logger).setLevel(logging.WARNING)

# GX resolves a validation's metrics in the calling thread; two gates in one process take turns.
_LOCK = threading.Lock()


# --------------------------------------------------------------------------------------------
# GX: the column list, and the column checks of a table copied into pandas
# --------------------------------------------------------------------------------------------

def _column_expectation(check: Check, column: str, meta: dict) -> Any:
    severity = check.severity
    if check.not_null:
        return gxe.ExpectColumnValuesToNotBeNull(column=column, severity=severity, meta=meta)
    if check.unique:
        return gxe.ExpectColumnValuesToBeUnique(column=column, severity=severity, meta=meta)
    if check.between is not None:
        lo, hi = check.between
        return gxe.ExpectColumnValuesToBeBetween(column=column, min_value=lo, max_value=hi,
                                                 severity=severity, meta=meta)
    if check.min is not None:
        return gxe.ExpectColumnValuesToBeBetween(column=column, min_value=check.min,
                                                 severity=severity, meta=meta)
    return gxe.ExpectColumnValuesToBeInSet(column=column, value_set=list(check.in_ or []),
                                           severity=severity, meta=meta)



def suite_for(contract: Contract) -> gx.ExpectationSuite:
    """The GX suite of one contract; each expectation's meta names its contract check.

    The suite is built from the whole list at once: `add_expectation` compares each new
    expectation with every one already added (quadratic)."""
    expectations: list[Any] = [gxe.ExpectTableColumnsToMatchOrderedList(
        column_list=[c.name for c in contract.columns], severity="critical",
        meta={"check_name": "columns"})]
    if in_gx(contract):
        expectations += [_column_expectation(check, col.name,
                                             {"check_name": f"{col.name}.{check.kind}"})
                         for col in contract.columns for check in col.all_checks()]
    suite = gx.ExpectationSuite(name=contract.table, expectations=expectations, meta={
        "notes": {"format": "markdown", "content": [
            f"Generated from `schemas/contracts/{contract.table}.yml`. {contract.description} "
            "Its invariants" + ("" if in_gx(contract) else " and column checks")
            + " are DuckDB audits: see the validation report, `docs/index.html`."]}})
    if len(suite.expectations) != len(expectations):  # GX logs, and drops, one it cannot take
        raise RuntimeError(f"{contract.table}: GX took {len(suite.expectations)} of "
                           f"{len(expectations)} expectations")
    return suite


def _outcome(table: str, result, site: str) -> CheckResult:
    config = result.expectation_config
    severity = str(getattr(config.severity, "value", config.severity)).lower()
    check_name = (config.meta or {}).get("check_name", config.type)
    res = result.result or {}
    failing = 0
    examples: list = []
    observed: Any = res.get("observed_value")
    if result.exception_info and result.exception_info.get("raised_exception"):
        # A check that cannot run has not passed.
        message = result.exception_info.get("exception_message") or "the check raised an error"
        return CheckResult(table, check_name, config.type, severity, False, 0,
                           f"error: {message}", [], config.description or "", docs=site)
    if "unexpected_count" in res:
        failing = int(res.get("unexpected_count") or 0)
        examples = list(res.get("partial_unexpected_list") or [])[:EXAMPLE_ROWS]
        observed = f"{failing} unexpected of {res.get('element_count')}"
    elif not result.success:
        failing = 1
    return CheckResult(table, check_name, config.type, severity, bool(result.success), failing,
                       None if observed is None else str(observed)[:500], examples,
                       config.description or "", docs=site)


def _context(docs_root: Path | None):
    """An in-memory GX context without progress bars; its Data Docs site under docs_root."""
    sites = {} if docs_root is None else {GX_DOCS: {
        "class_name": "SiteBuilder",
        "store_backend": {"class_name": "TupleFilesystemStoreBackend",
                          "base_directory": str(docs_root)},
        "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"}}}
    return gx.get_context(mode="ephemeral", project_config=DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        data_docs_sites=sites, progress_bars={"globally": False}))


# --------------------------------------------------------------------------------------------
# the gate's GX part
# --------------------------------------------------------------------------------------------

def gx_results(frames: dict[str, Any], contracts: dict[str, Contract],
               docs_root: Path | None = None) -> dict[str, list[CheckResult]]:
    """GX's results for each table of `frames` (a pandas frame of the table; of its columns
    only, no rows, for a table checked in place): its column list, then the column checks GX
    runs. With docs_root, GX's Data Docs site is built there.

    gx_process.run_suites adds the DuckDB audits and writes the report; this runs in the run's
    process or in a process of its own (gx_process)."""
    results: dict[str, list[CheckResult]] = {}
    with _LOCK:
        context = _context(docs_root)
        source = context.data_sources.add_pandas("wow")
        for table, frame in frames.items():
            suite = context.suites.add(suite_for(contracts[table]))
            batch = source.add_dataframe_asset(table).add_batch_definition_whole_dataframe(table)
            definition = context.validation_definitions.add(
                gx.ValidationDefinition(name=table, data=batch, suite=suite))
            # BASIC holds what validation_results keeps (the count of unexpected values and
            # the first few); SUMMARY's value counts and index lists cost a quarter of the gate.
            # (BOOLEAN_ONLY saves about 8% here, and GX's Data Docs cannot render its results.)
            validation = definition.run(
                batch_parameters={"dataframe": frame},
                result_format={"result_format": "BASIC",
                               "partial_unexpected_count": EXAMPLE_ROWS})
            site = "" if docs_root is None else docs_root.name
            results[table] = [_outcome(table, r, site) for r in validation.results]
        if docs_root is not None:
            context.build_data_docs(site_names=[GX_DOCS])
    return results
