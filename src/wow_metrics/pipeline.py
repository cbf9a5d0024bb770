"""One run: ingest what is new, build every table, audit, publish (the library behind `wow run`)."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import shutil
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from wow_metrics import warehouse as wh
from wow_metrics.config import Settings, load_settings
from wow_metrics.ingest import IngestReport, ingest_new_files
from wow_metrics.ingest.rawcsv import UnreadableFile, load_csv, read_header
from wow_metrics.lake import Lake
from wow_metrics.pseudonym import key_from_env

log = logging.getLogger(__name__)

SCHEMAS_ROOT = Path(__file__).resolve().parents[2] / "schemas"

REFERENCE_KINDS = {
    # kind: (required columns, optional columns)
    "roster": (("clinician_id",), ("department", "specialty", "role", "clinical_fte", "timezone")),
    "schedule": (("clinician_id", "appointment_id", "start_time", "duration_minutes", "status"), ()),
    "holidays": (("date",), ("name",)),
    "category_map": (("format", "action", "category"), ("report_name", "is_prescription")),
}

LAKE_EVENT_COLUMNS = """
    source_file VARCHAR, source_line BIGINT, format VARCHAR, clinician_id VARCHAR,
    event_at TIMESTAMPTZ, action VARCHAR, report_name VARCHAR, category_raw VARCHAR,
    patient_key VARCHAR, workstation_id VARCHAR, metric_id VARCHAR, process_id VARCHAR,
    csn_key VARCHAR, is_time_ambiguous BOOLEAN
"""


class LandingError(RuntimeError):
    """The landing folder is missing or not laid out as SPEC 1 says."""


@dataclass
class RunSummary:
    """What a run did, for the CLI, the flow and tests."""

    run_id: str
    warehouse: Path
    ingest: IngestReport
    seconds: float = 0.0
    phase_seconds: dict[str, float] = field(default_factory=dict)
    events_on_timeline: int = 0
    clinicians: int = 0
    day_rows: int = 0
    period_rows: int = 0
    rows_quarantined_total: int = 0
    warnings: list[str] = field(default_factory=list)


def run(landing: Path | str, warehouse: Path | str, *, key: bytes | None = None,
        full_refresh: bool = False, settings: Settings | None = None) -> RunSummary:
    """Ingest new extracts from landing, rebuild the tables and publish them to warehouse/wow.duckdb."""
    started = time.perf_counter()
    landing, warehouse = Path(landing), Path(warehouse)
    if not landing.is_dir():
        raise LandingError(f"landing folder {landing} does not exist")
    settings = settings or load_settings(landing)
    key = key if key is not None else key_from_env()
    run_id = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:8]
    warehouse.mkdir(parents=True, exist_ok=True)
    lake = Lake(warehouse)
    if full_refresh and lake.root.exists():
        shutil.rmtree(lake.root)

    phases: dict[str, float] = {}
    t0 = time.perf_counter()
    report = ingest_new_files(landing, lake, settings, key, run_id)
    phases["ingest"] = time.perf_counter() - t0

    build_dir = warehouse / ".build"
    if build_dir.exists():
        shutil.rmtree(build_dir)
    (build_dir / "tmp").mkdir(parents=True)
    con = wh.connect(build_dir / "build.duckdb", temp_directory=build_dir / "tmp")
    try:
        t0 = time.perf_counter()
        _load_lake(con, lake)
        _load_reference(con, landing, run_id)
        _load_definitions(con, settings, run_id)
        params = build_params(settings)
        wh.run_models(con, params)
        phases["build"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        failures = wh.run_audits(con, params)
        phases["audit"] = time.perf_counter() - t0
        if failures:
            raise wh.AuditFailure(failures)

        t0 = time.perf_counter()
        wh.publish(con, warehouse, comments=TABLE_COMMENTS)
        phases["publish"] = time.perf_counter() - t0
        summary = _summarise(con, run_id, warehouse, report)
    finally:
        con.close()
        shutil.rmtree(build_dir, ignore_errors=True)
    summary.phase_seconds = phases
    summary.seconds = time.perf_counter() - started
    return summary


def build_params(settings: Settings) -> dict[str, object]:
    """The $parameters the sql/ models take, from the settings."""
    return {
        "default_timezone": settings.default_timezone,
        "idle_threshold_us": int(round(settings.idle_threshold_seconds * 1_000_000)),
        "workday_start": settings.workday_start,
        "workday_end": settings.workday_end,
        "grace_us": int(round(settings.schedule_window_grace_minutes * 60_000_000)),
        "period": settings.period,
    }


def _load_lake(con, lake: Lake) -> None:
    manifest = lake.load_manifest()
    events = [str(p) for p in lake.live_event_files(manifest)]
    if events:
        con.execute("create table lake_events as select * from read_parquet($files)", {"files": events})
    else:
        con.execute(f"create table lake_events ({LAKE_EVENT_COLUMNS})")
    quarantine = [str(p) for p in lake.live_quarantine_files(manifest)]
    con.execute("create table lake_quarantine (source_file VARCHAR, source_line BIGINT, "
                "reason VARCHAR, clinician_id VARCHAR)")
    if quarantine:
        con.execute("insert into lake_quarantine select source_file, source_line, reason, "
                    "clinician_id from read_parquet($files)", {"files": quarantine})
    if lake.manifest_path.exists():
        con.execute("create table lake_manifest as select * from read_parquet($f)",
                    {"f": str(lake.manifest_path)})
    else:
        import pyarrow as pa

        from wow_metrics.lake import MANIFEST_SCHEMA

        empty = pa.Table.from_pylist([], schema=MANIFEST_SCHEMA)  # noqa: F841 (read by DuckDB)
        con.execute("create table lake_manifest as select * from empty")


def _load_reference(con, landing: Path, run_id: str) -> None:
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


def _load_definitions(con, settings: Settings, run_id: str) -> None:
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


def _summarise(con, run_id: str, warehouse: Path, report: IngestReport) -> RunSummary:
    one = lambda sql: con.execute(sql).fetchone()[0]  # noqa: E731
    summary = RunSummary(run_id=run_id, warehouse=warehouse, ingest=report)
    summary.events_on_timeline = one("select count(*) from int_timeline_events")
    summary.clinicians = one("select count(distinct clinician_id) from ehr_time_by_clinician_day")
    summary.day_rows = one("select count(*) from ehr_time_by_clinician_day")
    summary.period_rows = one("select count(*) from ehr_time_by_clinician_period")
    summary.rows_quarantined_total = one("select count(*) from quarantine")
    unrostered = [r[0] for r in con.execute(
        "select clinician_id from int_clinicians where not has_roster_row order by 1").fetchall()]
    if unrostered:
        summary.warnings.append(
            f"{len(unrostered)} clinician(s) with events but no roster row, measured with "
            f"department 'unknown' and no FTE: {', '.join(unrostered[:10])}"
            + (" ..." if len(unrostered) > 10 else ""))
    for msg in report.messages:
        summary.warnings.append(msg)
    return summary


TABLE_COMMENTS = {
    "ehr_time_by_clinician_day": "One row per clinician_id and local activity_date with an event "
    "or scheduled time. Active EHR minutes by category and by time of day (SPEC 5).",
    "ehr_time_by_clinician_period": "One row per clinician_id and period_start. Day metrics "
    "summed in hours, with per-8-scheduled-hour, per-FTE-week and per-scheduled-day figures (SPEC 6).",
    "ingest_manifest": "One row per input file version. rows_read = rows_loaded + "
    "rows_quarantined + rows_duplicate + rows_excluded (SPEC 9).",
    "quarantine": "One row per rejected input row (or whole file): file, line and reason.",
    "metric_definitions": "The settings and definitions every published figure was computed with.",
}
