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

# The columns a reference file must have. Its raw table, declared in sql/sources/raw_<kind>.sql,
# names every column read (the others may be absent from the file: NULL).
REQUIRED_COLUMNS = {
    "roster": ("clinician_id",),
    "schedule": ("clinician_id", "appointment_id", "start_time", "duration_minutes", "status"),
    "holidays": ("date",),
    "category_map": ("format", "action", "category"),
}
# The table each file's rows are loaded into (sql/sources/reference_csv_rows.sql reads it).
CSV_FILE_TABLE = "reference_csv_file"

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


def reference_files(landing: Path) -> dict[str, list[Path]]:
    """The files of each kind of reference the landing zone may hold, in reading order."""
    ref = landing / "reference"
    return {
        "roster": [ref / "roster.csv"],
        "schedule": sorted((ref / "schedule").glob("*.csv")) if (ref / "schedule").is_dir() else [],
        "holidays": [ref / "holidays.csv"],
        "category_map": [ref / "category_map.csv"],
    }


def load_reference(con, landing: Path, run_id: str) -> None:
    """Load reference files raw (all VARCHAR, with file and line) for the staging models to check."""
    files: list[dict] = []    # raw_reference_files, one per file found
    rejects: list[dict] = []  # raw_reference_rejects, one per line (or file) the reader refused
    now = dt.datetime.now(dt.UTC)
    for kind, paths in reference_files(landing).items():
        wh.run_model_file(con, f"sources/raw_{kind}.sql")
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
            files.append(entry)
            try:
                lines = _load_file(con, path, relative, f"raw_{kind}", REQUIRED_COLUMNS[kind])
            except UnreadableFile as exc:
                reason = str(exc).replace(str(path), relative)
                message = f"{relative}: file quarantined: {reason}"
                log.error(message)
                entry.update(status="quarantined", message=message)
                rejects.append({"source_file": relative, "source_line": None,
                                "reason": f"file quarantined: {reason}"})
                continue
            rejects += [{"source_file": relative, "source_line": line, "reason": reason}
                        for line, reason in lines]
    wh.run_model_file(con, "sources/raw_reference_files.sql", {"reference_files": files})
    wh.run_model_file(con, "sources/raw_reference_rejects.sql", {"reference_rejects": rejects})

    # The shipped action maps are data in schemas/, checked by the same staging model.
    wh.run_model_file(con, "sources/raw_shipped_category_map.sql")
    for path in sorted((SCHEMAS_ROOT / "action_maps").glob("*.csv")):
        _load_file(con, path, f"schemas/action_maps/{path.name}", "raw_shipped_category_map")


def _load_file(con, path: Path, source_file: str, raw_table: str,
               required: tuple[str, ...] = ()) -> list[tuple[int, str]]:
    """Append the rows of one reference CSV file to its raw table (the columns of that table it
    has, by name); return the lines its reader refused. Raise UnreadableFile for a file that
    cannot be read, or lacks a required column."""
    header = [c.lower() for c in read_header(path)]
    missing = [c for c in required if c not in header]
    if missing:
        raise UnreadableFile(f"missing required column(s) {', '.join(missing)} "
                             f"(header: {','.join(header)[:200]})")
    columns = [c for c in con.table(raw_table).columns if c not in ("source_file", "source_line")]
    raw = load_csv(con, path, CSV_FILE_TABLE, header, columns)
    wh.run_model_file(con, "sources/reference_csv_rows.sql", {"source_file": source_file},
                      raw_table)
    con.execute(f"drop table {CSV_FILE_TABLE}")
    return raw.rejects


def load_definitions(con, settings: Settings, run_id: str) -> None:
    """metric_definitions: the settings and definitions this run's figures are computed with."""
    from wow_metrics.definitions import metric_definition_rows

    wh.run_model_file(con, "sources/metric_definitions.sql",
                      {"metric_definitions": metric_definition_rows(settings, run_id)})


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
