"""Table contracts: one YAML per table in schemas/contracts, the source of docs, comments and checks.

A contract names a table's grain and columns (DuckDB type, unit, nullability, definition, simple
per-column checks) and its invariants: DuckDB queries over the published tables that return the
bad rows, so that zero rows means pass.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from wow_metrics.warehouse import sql_literal

CONTRACTS_ROOT = Path(__file__).resolve().parents[2] / "schemas" / "contracts"

Severity = Literal["critical", "warning"]
DuckDBType = Literal["VARCHAR", "DATE", "DOUBLE", "BIGINT", "UBIGINT", "INTEGER", "BOOLEAN",
                     "TIMESTAMP WITH TIME ZONE"]
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_NUMERIC = ("DOUBLE", "BIGINT", "INTEGER")


def _snake_case_name(kind: str, value: str) -> str:
    if not _NAME.match(value):
        raise ValueError(f"{kind} name {value!r} is not snake_case")
    return value


def table_reference(table: str) -> re.Pattern[str]:
    """`table` as a name in SQL: not part of a longer name, a qualified name or a quoted one."""
    return re.compile(rf"(?<![\w.\"]){re.escape(table)}(?![\w\"])")


class ContractError(ValueError):
    """A contract file is missing, unreadable or not a valid contract."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Check(_Strict):
    """One simple per-column check; exactly one of the check kinds is set."""

    not_null: bool | None = None
    unique: bool | None = None
    between: tuple[float, float] | None = None
    in_: list[str | int | float | bool] | None = Field(default=None, alias="in")
    min: float | None = None
    severity: Severity = "critical"

    @model_validator(mode="after")
    def _one_kind(self) -> Check:
        kinds = [k for k in ("not_null", "unique", "between", "in_", "min")
                 if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError("a check sets exactly one of not_null, unique, between, in, min "
                             f"(got {', '.join(kinds) or 'none'})")
        if self.not_null is False or self.unique is False:
            raise ValueError("not_null and unique take only `true`")
        if self.between is not None and self.between[0] > self.between[1]:
            raise ValueError(f"between: min {self.between[0]} exceeds max {self.between[1]}")
        if self.in_ is not None and not self.in_:
            raise ValueError("in: needs at least one value")
        return self

    @property
    def kind(self) -> str:
        return next(k for k in ("not_null", "unique", "between", "in", "min")
                    if getattr(self, "in_" if k == "in" else k) is not None)

    def bad_rows_sql(self, table: str, column: str) -> str:
        """A query over `table` that returns the rows breaking this check (zero rows = pass)."""
        col = f'"{column}"'
        if self.unique:  # every row whose value another row has too (as GX counts them)
            return (f"select * from {table} where {col} is not null "
                    f"qualify count(*) over (partition by {col}) > 1")
        return f"select * from {table} where {self.bad_row_condition(column)}"

    def bad_row_condition(self, column: str) -> str:
        """The condition true of a row breaking this check (not for `unique`, a property of
        the column rather than of one row)."""
        col = f'"{column}"'
        assert not self.unique, "a unique check has no per-row condition"
        if self.not_null:
            return f"{col} is null"
        if self.between is not None:
            lo, hi = self.between
            return f"{col} < {lo!r} or {col} > {hi!r}"
        if self.min is not None:
            return f"{col} < {self.min!r}"
        values = ", ".join(sql_literal(v) for v in self.in_ or [])
        return f"{col} not in ({values})"


class Column(_Strict):
    """One column of a table, in table order."""

    name: str
    type: DuckDBType
    unit: str = ""
    nullable: bool
    definition: str
    checks: list[Check] = []

    @field_validator("unit", mode="before")
    @classmethod
    def _empty_unit(cls, value: object) -> object:
        return "" if value is None else value

    @field_validator("name")
    @classmethod
    def _snake_case(cls, value: str) -> str:
        return _snake_case_name("column", value)

    @model_validator(mode="after")
    def _consistent(self) -> Column:
        kinds = [c.kind for c in self.checks]
        if len(kinds) != len(set(kinds)):
            raise ValueError(f"column {self.name}: a check kind appears twice")
        if self.nullable and "not_null" in kinds:
            raise ValueError(f"column {self.name}: nullable, yet has a not_null check")
        if self.type not in _NUMERIC and ({"between", "min"} & set(kinds)):
            raise ValueError(f"column {self.name}: between/min need a numeric type")
        return self

    def all_checks(self) -> list[Check]:
        """The explicit checks, plus a critical not_null for a non-nullable column without one."""
        implied = [] if self.nullable or any(c.not_null for c in self.checks) else [
            Check(not_null=True, severity="critical")]
        return [*implied, *self.checks]


class Invariant(_Strict):
    """A rule over one or more published tables: `sql` returns the bad rows."""

    name: str
    severity: Severity
    description: str
    sql: str
    # A setting (recorded in metric_definitions) that a site sets to critical or warning to
    # decide whether this check blocks publication; `severity` is its default.
    severity_setting: Literal["reference_check_severity"] | None = None

    @field_validator("name")
    @classmethod
    def _snake_case(cls, value: str) -> str:
        return _snake_case_name("invariant", value)

    @field_validator("sql")
    @classmethod
    def _one_query(cls, value: str) -> str:
        value = value.strip().rstrip(";").strip()
        if not value:
            raise ValueError("sql is empty")
        return value


class Contract(_Strict):
    """A table's contract: its grain, columns in order, and invariants."""

    table: str
    description: str
    grain: list[str]
    columns: list[Column]
    invariants: list[Invariant] = []
    # Where the column checks run: GX's own column expectations on a pandas copy of the table,
    # or DuckDB audits on the table in place, for tables too large to copy into memory each
    # night. (Invariants are DuckDB audits either way.)
    validate_in: Literal["pandas", "duckdb"] = "pandas"

    @field_validator("description")
    @classmethod
    def _states_grain(cls, value: str) -> str:
        if "One row per" not in value:
            raise ValueError("description must state the grain ('One row per ...')")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Contract:
        names = [c.name for c in self.columns]
        if len(names) != len(set(names)):
            raise ValueError(f"{self.table}: duplicate column names")
        if not self.grain:
            raise ValueError(f"{self.table}: grain is empty")
        missing = [g for g in self.grain if g not in names]
        if missing:
            raise ValueError(f"{self.table}: grain column(s) {missing} are not columns")
        for col in self.columns:
            if any(c.unique for c in col.checks) and self.grain != [col.name]:
                raise ValueError(f"{self.table}.{col.name}: `unique` is only for a "
                                 "single-column grain; state composite keys as an invariant")
        for i in self.invariants:
            if not table_reference(self.table).search(i.sql):
                raise ValueError(f"{self.table}: invariant {i.name} does not read {self.table} "
                                 "(the table it checks); state it in the contract of a table it reads")
        inv = [i.name for i in self.invariants]
        if len(inv) != len(set(inv)):
            raise ValueError(f"{self.table}: duplicate invariant names")
        return self

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    def check_queries(self) -> list[tuple[str, Severity, str]]:
        """(check id, severity, bad-rows sql) of every per-column check, implied ones included."""
        return [(f"{col.name}.{chk.kind}", chk.severity, chk.bad_rows_sql(self.table, col.name))
                for col in self.columns for chk in col.all_checks()]


def with_severities(contracts: dict[str, Contract], settings: dict[str, str | None]
                    ) -> dict[str, Contract]:
    """The contracts with each invariant's severity_setting applied from `settings` (setting
    name -> value, as in metric_definitions); an unset or unknown value keeps the default."""
    out = {}
    for table, contract in contracts.items():
        invariants = [
            i.model_copy(update={"severity": settings[i.severity_setting]})
            if i.severity_setting and settings.get(i.severity_setting) in ("critical", "warning")
            else i
            for i in contract.invariants]
        out[table] = contract.model_copy(update={"invariants": invariants})
    return out


# libyaml's safe loader when PyYAML was built with it: the same documents, read 8x faster
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_contract(path: Path) -> Contract:
    """Read and validate one contract file; its table must be named as the file."""
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_YAML_LOADER)
        contract = Contract.model_validate(data)
    except (OSError, yaml.YAMLError, ValueError) as exc:
        raise ContractError(f"{path}: {exc}") from exc
    if contract.table != path.stem:
        raise ContractError(f"{path}: table {contract.table!r} is not named as its file")
    return contract


def load_contracts(root: Path = CONTRACTS_ROOT) -> dict[str, Contract]:
    """Every contract under root, by table name."""
    paths = sorted(Path(root).glob("*.yml")) + sorted(Path(root).glob("*.yaml"))
    if not paths:
        raise ContractError(f"no contracts under {root}")
    contracts: dict[str, Contract] = {}
    for path in paths:
        contract = load_contract(path)
        if contract.table in contracts:
            raise ContractError(f"{path}: a second contract for table {contract.table}")
        contracts[contract.table] = contract
    return contracts


def column_comments(contract: Contract) -> dict[str, str]:
    """Column comment text (definition, then unit) for COMMENT ON COLUMN and docs."""
    return {c.name: c.definition.strip() + (f" Unit: {c.unit}." if c.unit else "")
            for c in contract.columns}


def _check_text(check: Check) -> str:
    if check.not_null:
        text = "not null"
    elif check.unique:
        text = "unique"
    elif check.between is not None:
        text = f"between {check.between[0]:g} and {check.between[1]:g}"
    elif check.min is not None:
        text = f">= {check.min:g}"
    else:
        text = "in {" + ", ".join(str(v) for v in check.in_ or []) + "}"
    return text if check.severity == "critical" else f"{text} (warning)"


def render_markdown(contracts: dict[str, Contract]) -> str:
    """docs/tables.md: every contract as a readable page (generated; a test keeps it current)."""
    out = ["# Tables: the contracts",
           "",
           "Generated from `schemas/contracts/*.yml` by `python -m wow_metrics.contracts`; do not edit by hand.",
           "Each contract also drives the DuckDB column comments and the publication gate's checks",
           "(Great Expectations for the column list and column checks, DuckDB audits for the",
           "invariants; critical checks block a publication, warnings are reported).",
           ""]
    for name in sorted(contracts):
        c = contracts[name]
        out += [f"## `{name}`", "", " ".join(c.description.split()), "",
                f"Grain: {', '.join(f'`{g}`' for g in c.grain)}.", "",
                "| column | type | unit | null | definition | checks |",
                "|---|---|---|---|---|---|"]
        for col in c.columns:
            checks = "; ".join(_check_text(k) for k in col.checks) or ""
            definition = " ".join(col.definition.split()).replace("|", "\\|")
            out.append(f"| `{col.name}` | {col.type} | {col.unit} | "
                       f"{'yes' if col.nullable else 'no'} | {definition} | {checks} |")
        if c.invariants:
            out += ["", "| invariant | severity | rule |", "|---|---|---|"]
            out += [f"| `{i.name}` | {i.severity}"
                    + (f" (`{i.severity_setting}`)" if i.severity_setting else "")
                    + f" | {' '.join(i.description.split())} |" for i in c.invariants]
        out.append("")
    return "\n".join(out)


DOCS_PAGE = CONTRACTS_ROOT.parents[1] / "docs" / "tables.md"

if __name__ == "__main__":
    DOCS_PAGE.write_text(render_markdown(load_contracts()), encoding="utf-8")
    print(f"wrote {DOCS_PAGE}")
