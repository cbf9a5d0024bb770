"""Great Expectations (GX Core 1.x) suites generated from the table contracts, and their runner.

Every contract becomes one ExpectationSuite:
- the column list, in order (`expect_table_columns_to_match_ordered_list`);
- each per-column check as GX's own column expectation (not null, unique, between, in set);
- each invariant as an `UnexpectedRowsExpectation` whose query is the contract's SQL with the
  table's own name replaced by `{batch}`.

GX Core ships the unexpected-rows metrics for SQL and Spark engines only; this module adds them
for the pandas engine by running the query in DuckDB, with `{batch}` bound to the DuckDB table
the batch's dataframe was copied from (so DATE stays DATE). The queries also reach the other
tables of the finishing database (a period sum is checked against the day table, the manifest
against the lake).

A contract with `validate_in: duckdb` (the lake's events, which can run to hundreds of millions
of rows) is not copied into pandas: GX gets an empty frame with its columns, `{batch}` is the
DuckDB table itself, and its column checks are generated as unexpected-rows queries too.

GX is imported here only (it takes about 2 s to import); analytics are off before import.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

import great_expectations as gx  # noqa: E402
import great_expectations.expectations as gxe  # noqa: E402
from great_expectations.core.metric_domain_types import MetricDomainTypes  # noqa: E402
from great_expectations.data_context.types.base import ProgressBarsConfig  # noqa: E402
from great_expectations.execution_engine import PandasExecutionEngine  # noqa: E402
from great_expectations.expectations.expectation import Expectation  # noqa: E402
from great_expectations.expectations.metrics.metric_provider import metric_value  # noqa: E402
from great_expectations.expectations.metrics.query_metrics.query_row_count import (  # noqa: E402
    unexpected_rows_query_row_count as _row_count,
)
from great_expectations.expectations.metrics.query_metrics.query_table import (  # noqa: E402
    unexpected_rows_query_table as _table,
)

from wow_metrics.contracts import Check, Contract, table_reference  # noqa: E402
from wow_metrics.files import replace_dir  # noqa: E402

# GX logs at INFO (e.g. each ephemeral docs site's temporary folder); a nightly log wants less.
for _name in ("great_expectations", "great_expectations.data_context.types.base"):
    logging.getLogger(_name).setLevel(logging.WARNING)

EXAMPLE_ROWS = 3
_MAX_ROWS = 20  # GX's own cap on rows an unexpected-rows metric returns

# The DuckDB connection and the name `{batch}` stands for, while one suite runs. GX resolves the
# metrics of a validation in the calling thread; the lock keeps two gates in one process apart.
_BINDING: dict[str, Any] = {}
_LOCK = threading.Lock()


def _duckdb_query(metric_value_kwargs: dict, cls) -> str:
    query = cls._get_query_from_metric_value_kwargs(metric_value_kwargs)
    return cls._format_query(query, batch=_BINDING["relation"])


def _evaluate(query: str) -> tuple[list[str], list[tuple], int]:
    """The first rows and the number of rows of a bad-rows query, in one scan (GX asks twice)."""
    cache = _BINDING.setdefault("cache", {})
    if query not in cache:
        # Ordered, so that the examples a result shows do not depend on the number of threads.
        cur = _BINDING["con"].execute(
            f"select *, count(*) over () as wow_n_rows from ({query}) order by all "
            f"limit {_MAX_ROWS}")
        names = [d[0] for d in cur.description][:-1]
        fetched = cur.fetchall()
        cache[query] = (names, [r[:-1] for r in fetched], fetched[0][-1] if fetched else 0)
    return cache[query]


class _DuckDBUnexpectedRowsTable(_table.UnexpectedRowsQueryTable):
    """unexpected_rows_query.table for pandas batches, computed by DuckDB."""

    @metric_value(engine=PandasExecutionEngine)
    def _pandas(cls, execution_engine, metric_domain_kwargs, metric_value_kwargs, metrics,
                runtime_configuration):
        execution_engine.get_compute_domain(metric_domain_kwargs, domain_type=MetricDomainTypes.TABLE)
        names, rows, _ = _evaluate(_duckdb_query(metric_value_kwargs, cls))
        return [{n: _plain(v) for n, v in zip(names, row, strict=True)} for row in rows]


class _DuckDBUnexpectedRowsCount(_row_count.UnexpectedRowsQueryRowCount):
    """unexpected_rows_query.row_count for pandas batches, computed by DuckDB."""

    @metric_value(engine=PandasExecutionEngine)
    def _pandas(cls, execution_engine, metric_domain_kwargs, metric_value_kwargs, metrics,
                runtime_configuration):
        execution_engine.get_compute_domain(metric_domain_kwargs, domain_type=MetricDomainTypes.TABLE)
        return _evaluate(_duckdb_query(metric_value_kwargs, cls))[2]


@contextlib.contextmanager
def _configurations_reused() -> Iterator[None]:
    """While a gate runs, `Expectation.configuration` is built once per expectation state.

    GX 1.x rebuilds the property (a pydantic `dict()` and a new ExpectationConfiguration) every
    time it is read, and its validator reads it about ninety times per expectation (once per
    kwarg in `_get_domain_kwargs` and `_get_success_kwargs`): a quarter of the gate's time.
    Here a read returns the configuration built for the same object with the same field values
    (by identity: a field assigned anew builds a new one). Each entry keeps its object and
    values alive, so no identity is reused while the gate runs. The property is GX's own again
    when the gate ends; if GX no longer has it as a property, nothing is changed.
    """
    original = Expectation.__dict__.get("configuration")
    if not isinstance(original, property) or original.fget is None:
        yield
        return
    build = original.fget
    built: dict[tuple, tuple] = {}

    def configuration(self):
        values = tuple(self.__dict__.values())
        key = (id(self), *map(id, values))
        entry = built.get(key)
        if entry is None:
            entry = built[key] = (self, values, build(self))
        return entry[2]

    Expectation.configuration = property(configuration, doc=original.__doc__)  # type: ignore[method-assign,assignment]
    try:
        yield
    finally:
        Expectation.configuration = original  # type: ignore[method-assign]


_PLAIN = (str, int, float, bool, type(None))


@contextlib.contextmanager
def _ids_reused() -> Iterator[None]:
    """While a gate runs, the id of a metric's kwargs is computed once per distinct content.

    GX names every metric configuration by `IDDict.to_id()`: the kwargs made JSON-serializable,
    dumped and hashed, twice per metric and thousands of times per gate, mostly for the same
    few dicts. Here a dict whose values are all plain (text, numbers, booleans, None) is looked
    up by its exact content (type and value of each item; floats by repr, so -0.0 and 0.0 stay
    apart) and gets the id GX computed for the first dict of that content. Any other dict, or a
    call naming its own keys, is GX's computation as before.
    """
    from great_expectations.core.id_dict import IDDict

    original = IDDict.__dict__.get("to_id")
    if not callable(original):
        yield
        return
    known: dict[tuple, Any] = {}

    def to_id(self, id_keys=None, id_ignore_keys=None):
        if id_keys is not None or id_ignore_keys is not None:
            return original(self, id_keys, id_ignore_keys)
        items = []
        for name, value in self.items():
            if type(value) not in _PLAIN:
                return original(self)
            items.append((name, type(value), repr(value) if type(value) is float else value))
        key = (type(self), *sorted(items))
        found = known.get(key)
        if found is None:
            found = known[key] = original(self)
        return found

    IDDict.to_id = to_id  # type: ignore[method-assign]
    try:
        yield
    finally:
        IDDict.to_id = original  # type: ignore[method-assign]


@contextlib.contextmanager
def _gate_shortcuts() -> Iterator[None]:
    """GX's own results, without its repeated work: see the two context managers above."""
    with _configurations_reused(), _ids_reused():
        yield


class _CompiledTemplates:
    """Data Docs' Jinja templates, compiled once per process (a Jinja bytecode cache in memory).

    GX gives every page view its own Jinja environment, so one Data Docs build compiled the same
    two dozen templates about fifty times: 0.3 s of every run. Jinja's own bytecode cache is
    keyed by template name and source checksum, and every environment GX makes is configured
    alike (`DefaultJinjaView.__init__`), so reusing the compiled code is what Jinja does between
    environments that share a cache anyway.
    """

    def __init__(self) -> None:
        import jinja2

        class _InMemory(jinja2.BytecodeCache):
            def __init__(self) -> None:
                self.code: dict[str, Any] = {}

            def load_bytecode(self, bucket) -> None:
                if (code := self.code.get(bucket.key)) is not None:
                    bucket.code = code

            def dump_bytecode(self, bucket) -> None:
                self.code[bucket.key] = bucket.code

        self.cache = _InMemory()

    @contextlib.contextmanager
    def shared(self) -> Iterator[None]:
        """While Data Docs build, every GX Jinja view compiles through this cache."""
        try:
            from great_expectations.render.view.view import DefaultJinjaView
        except ImportError:  # a GX release that renders otherwise: its own way, uncached
            yield
            return
        original = DefaultJinjaView.__dict__.get("__init__")
        if not callable(original):
            yield
            return
        cache = self.cache

        def __init__(view, *args, **kwargs):
            original(view, *args, **kwargs)
            if getattr(view, "env", None) is not None and view.env.bytecode_cache is None:
                view.env.bytecode_cache = cache

        DefaultJinjaView.__init__ = __init__  # type: ignore[method-assign]
        try:
            yield
        finally:
            DefaultJinjaView.__init__ = original  # type: ignore[method-assign]


_TEMPLATES = _CompiledTemplates()


def _count_column_checks_at_once(con, contract: Contract, relation: str) -> None:
    """Count the bad rows of every per-row column check of a `validate_in: duckdb` contract in
    one scan of `relation`, and answer a check that found none from that count.

    Each check is still its own GX expectation, but a lake of thousands of Parquet files is read
    once rather than once per check. A check that found bad rows runs its own query as before,
    for its examples."""
    checks = [(check.bad_rows_sql("{batch}", col.name).format(batch=relation),
               check.bad_row_condition(col.name))
              for col in contract.columns for check in col.all_checks() if not check.unique]
    if not checks:
        return
    counts = con.execute("select " + ", ".join(f"count(*) filter (where {condition})"
                                               for _, condition in checks)
                         + f" from {relation}").fetchall()[0]
    cache = _BINDING.setdefault("cache", {})
    for (query, _), n in zip(checks, counts, strict=True):
        if n == 0:
            cache[query] = ([], [], 0)


def _plain(value: Any) -> Any:
    """A DuckDB value as JSON-friendly text or number, for GX results and Data Docs."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _braces_escaped(sql: str) -> str:
    return sql.replace("{", "{{").replace("}", "}}")


def batch_query(sql: str, table: str) -> str:
    """The contract SQL with its own table named `{batch}` (other tables stay as they are)."""
    return table_reference(table).sub("{batch}", _braces_escaped(sql))


def _column_expectation(check: Check, column: str, in_duckdb: bool, meta: dict) -> Any:
    severity = check.severity
    if in_duckdb:
        return gxe.UnexpectedRowsExpectation(
            unexpected_rows_query=check.bad_rows_sql("{batch}", column),
            description=f"{column}: {check.kind} check", severity=severity, meta=meta)
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
    expectation with every one already added (quadratic, a sixth of the gate's time)."""
    in_duckdb = contract.validate_in == "duckdb"
    expectations: list[Any] = [gxe.ExpectTableColumnsToMatchOrderedList(
        column_list=[c.name for c in contract.columns], severity="critical",
        meta={"check_name": "columns"})]
    for col in contract.columns:
        for check in col.all_checks():
            expectations.append(_column_expectation(
                check, col.name, in_duckdb, {"check_name": f"{col.name}.{check.kind}"}))
    for inv in contract.invariants:
        expectations.append(gxe.UnexpectedRowsExpectation(
            unexpected_rows_query=batch_query(inv.sql, contract.table),
            description=inv.description, severity=inv.severity,
            meta={"check_name": inv.name}))
    suite = gx.ExpectationSuite(name=contract.table, expectations=expectations, meta={
        "notes": {"format": "markdown", "content": [
            f"Generated from `schemas/contracts/{contract.table}.yml`. {contract.description}"]}})
    if len(suite.expectations) != len(expectations):  # GX logs, and drops, one it cannot take
        raise RuntimeError(f"{contract.table}: GX took {len(suite.expectations)} of "
                           f"{len(expectations)} expectations")
    return suite


@dataclass
class CheckResult:
    """One expectation's outcome, as validation_results and the CLI show it."""

    table_name: str
    check_name: str
    expectation: str
    severity: str
    success: bool
    failing_rows: int
    observed_value: str | None
    examples: list = field(default_factory=list)
    description: str = ""


def _outcome(table: str, result) -> CheckResult:
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
                           f"error: {message}", [], config.description or "")
    if config.type == "unexpected_rows_expectation":
        failing = int(observed or 0)
        if failing:
            query = config.kwargs["unexpected_rows_query"].format(batch=table)
            examples = _evaluate(query)[1][:EXAMPLE_ROWS]
    elif "unexpected_count" in res:
        failing = int(res.get("unexpected_count") or 0)
        examples = list(res.get("partial_unexpected_list") or [])[:EXAMPLE_ROWS]
        observed = f"{failing} unexpected of {res.get('element_count')}"
    elif not result.success:
        failing = 1
    return CheckResult(table, check_name, config.type, severity, bool(result.success), failing,
                       None if observed is None else str(observed)[:500], examples,
                       config.description or "")


def run_suites(con, contracts: dict[str, Contract], tables: list[str],
               docs_dir: Path | None = None) -> list[CheckResult]:
    """Validate each table with its contract's suite; optionally write GX Data Docs to docs_dir."""
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    if docs_dir is not None:
        staging = docs_dir.with_name(docs_dir.name + ".building")
        shutil.rmtree(staging, ignore_errors=True)
        context.add_data_docs_site(site_name="wow", site_config={
            "class_name": "SiteBuilder",
            "store_backend": {"class_name": "TupleFilesystemStoreBackend",
                              "base_directory": str(staging)},
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"}})
    source = context.data_sources.add_pandas("wow")
    outcomes: list[CheckResult] = []
    with _LOCK, _gate_shortcuts():
        try:
            for table in tables:
                contract = contracts[table]
                in_duckdb = contract.validate_in == "duckdb"
                frame = con.execute(f"select * from {table}" + (" limit 0" if in_duckdb else "")).df()
                # `{batch}` is the DuckDB table the frame was copied from, not the copy: pandas
                # would turn DATE into timestamps and change what the contract's SQL computes.
                _BINDING.update(con=con, relation=table)
                if in_duckdb:
                    _count_column_checks_at_once(con, contract, table)
                suite = context.suites.add(suite_for(contract))
                batch = source.add_dataframe_asset(table).add_batch_definition_whole_dataframe(table)
                definition = context.validation_definitions.add(
                    gx.ValidationDefinition(name=table, data=batch, suite=suite))
                # BASIC holds what validation_results keeps (the count of unexpected values and
                # the first few); SUMMARY's value counts and index lists cost a quarter of the gate.
                validation = definition.run(
                    batch_parameters={"dataframe": frame},
                    result_format={"result_format": "BASIC",
                                   "partial_unexpected_count": EXAMPLE_ROWS})
                outcomes += [_outcome(table, r) for r in validation.results]
                _BINDING.pop("cache", None)
        finally:
            _BINDING.clear()
    if docs_dir is not None:
        with _LOCK, _TEMPLATES.shared():
            context.build_data_docs(site_names=["wow"])
        replace_dir(staging, docs_dir)
    return outcomes
