"""Stage the reference files (roster, schedule, holidays, action maps) and the metric
definitions once per run, for every build task."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from pathlib import Path

from wow_metrics import warehouse as wh
from wow_metrics.config import Settings
from wow_metrics.ingest.rawcsv import UnreadableFile, load_csv, read_header
from wow_metrics.progress import mark
from wow_metrics.run_context import RunContext, connect_run

log = logging.getLogger(__name__)

SCHEMAS_ROOT = Path(__file__).resolve().parents[2] / "schemas"

REFERENCE_KINDS = {
    # kind: (required columns, optional columns)
    "roster": (("clinician_id",), ("department", "specialty", "role", "clinical_fte", "timezone")),
    "schedule": (("clinician_id", "appointment_id", "start_time", "duration_minutes", "status"), ()),
    "holidays": (("date",), ("name",)),
    "category_map": (("format", "action", "category"), ("report_name", "is_prescription")),
}

REFERENCE_OUTPUTS = ("stg_roster", "stg_schedule", "stg_holidays", "stg_category_map",
                     "raw_reference_files", "raw_reference_rejects", "metric_definitions")


def stage_reference(ctx: RunContext) -> None:
    """Read and check roster, schedule, holidays and action maps once, for every build task."""
    con = connect_run(ctx)
    try:
        load_reference(con, ctx.landing, ctx.run_id)
        load_definitions(con, ctx.settings, ctx.run_id)
        wh.run_models(con, ctx.params, "reference")
        out = ctx.work_dir / "reference"
        out.mkdir(parents=True, exist_ok=True)
        for table in REFERENCE_OUTPUTS:
            con.execute(f"copy {table} to $p (format parquet)", {"p": f"{out / table}.parquet"})
    finally:
        con.close()
    mark("build.reference_staged")


def load_reference(con, landing: Path, run_id: str) -> None:
    """Load reference files raw (all VARCHAR, with file and line) for the staging models to check."""
    con.execute("create table raw_reference_files (file_path VARCHAR, file_kind VARCHAR, "
                "content_sha256 VARCHAR, size_bytes BIGINT, status VARCHAR, message VARCHAR, "
                "run_id VARCHAR, ingested_at TIMESTAMPTZ)")
    con.execute("create table raw_reference_rejects (source_file VARCHAR, source_line BIGINT, "
                "reason VARCHAR)")
    ref = landing / "reference"
    sources = {
        "roster": [ref / "roster.csv"],
        "schedule": sorted((ref / "schedule").glob("*.csv")) if (ref / "schedule").is_dir() else [],
        "holidays": [ref / "holidays.csv"],
        "category_map": [ref / "category_map.csv"],
    }
    now = dt.datetime.now(dt.UTC)
    for kind, paths in sources.items():
        required, optional = REFERENCE_KINDS[kind]
        columns = [*required, *optional]
        col_sql = ", ".join(f'"{c}" VARCHAR' for c in columns)
        con.execute(f"create table raw_{kind} (source_file VARCHAR, source_line BIGINT, {col_sql})")
        for path in paths:
            if not path.exists():
                if kind == "roster":
                    log.warning("reference/roster.csv not found: every clinician is measured "
                                "with department 'unknown' and no FTE")
                continue
            relative = path.relative_to(landing).as_posix()
            entry = {"file_path": relative, "file_kind": f"reference_{kind}",
                     "content_sha256": _sha256(path), "size_bytes": path.stat().st_size,
                     "status": "read", "message": None, "run_id": run_id, "ingested_at": now}
            try:
                header = [c.lower() for c in read_header(path)]
                missing = [c for c in required if c not in header]
                if missing:
                    raise UnreadableFile(f"missing required column(s) {', '.join(missing)} "
                                         f"(header: {','.join(header)[:200]})")
                raw = load_csv(con, path, "_ref_rows", header, columns)
            except UnreadableFile as exc:
                reason = str(exc).replace(str(path), relative)
                message = f"{relative}: file quarantined: {reason}"
                log.error(message)
                entry.update(status="quarantined", message=message)
                con.execute("insert into raw_reference_rejects values ($f, null, $r)",
                            {"f": relative, "r": f"file quarantined: {reason}"})
                _insert_row(con, "raw_reference_files", entry)
                continue
            con.execute(f"insert into raw_{kind} select $f, * from _ref_rows", {"f": relative})
            con.execute("drop table _ref_rows")
            for line, reason in raw.rejects:
                con.execute("insert into raw_reference_rejects values ($f, $l, $r)",
                            {"f": relative, "l": line, "r": reason})
            _insert_row(con, "raw_reference_files", entry)

    # The shipped action maps are data in schemas/, checked by the same staging model.
    con.execute("create table raw_shipped_category_map as select * from raw_category_map limit 0")
    for path in sorted((SCHEMAS_ROOT / "action_maps").glob("*.csv")):
        header = [c.lower() for c in read_header(path)]
        load_csv(con, path, "_ref_rows", header, [*REFERENCE_KINDS["category_map"][0],
                                                  *REFERENCE_KINDS["category_map"][1]])
        con.execute("insert into raw_shipped_category_map select $f, * from _ref_rows",
                    {"f": f"schemas/action_maps/{path.name}"})
        con.execute("drop table _ref_rows")


def load_definitions(con, settings: Settings, run_id: str) -> None:
    from wow_metrics.definitions import metric_definition_rows

    rows = metric_definition_rows(settings, run_id)
    con.execute("create table metric_definitions (kind VARCHAR, name VARCHAR, value VARCHAR, "
                "unit VARCHAR, definition VARCHAR, run_id VARCHAR)")
    for row in rows:
        _insert_row(con, "metric_definitions", row)


def _insert_row(con, table: str, row: dict) -> None:
    names = list(row)
    con.execute(
        f"insert into {table} ({', '.join(names)}) values ({', '.join('$' + n for n in names)})",
        row,
    )


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
