"""Parse one extract's raw rows and write its lake files: its events per clinician bucket,
its extents and its quarantine (parsed in memory when small, bucket by bucket when large)."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import pyarrow as pa

from wow_metrics.config import Settings
from wow_metrics.files import durable_replace
from wow_metrics.ingest.discovery import SourceFile
from wow_metrics.ingest.parse import format_parse_params, has_bad_values
from wow_metrics.ingest.textfile import RawRead
from wow_metrics.lake import EVENT_COLUMNS, EVENTS_PARQUET, SCRATCH_PARQUET, Lake
from wow_metrics.progress import mark
from wow_metrics.sqlfiles import read_sql
from wow_metrics.warehouse import run_model_file, sql_literal

log = logging.getLogger(__name__)

# Below this size (uncompressed, estimated) an extract is parsed in memory and written in one
# statement; above it, it is streamed through scratch files bucket by bucket.
SMALL_EXTRACT_BYTES = 32 << 20


def write_lake_files(con, src: SourceFile, sha: str, header: list[str], raw: RawRead,
                     raw_path: Path, lake: Lake, settings: Settings, now: dt.datetime,
                     scratch: Path) -> dict:
    """Parse the rows the reader wrote to `raw_path` and write the file's lake files; return
    its ingest figures."""
    fmt = src.format
    assert fmt is not None
    parse_sql, parse_params = _parse_statement(con, src, header, raw_path, settings, now)
    for old in lake.events_paths(sha):
        old.unlink()  # an earlier reading of this content (its format's declaration changed)
    # Events land in one file per clinician bucket, sorted by clinician and time, written to
    # scratch first and moved into place only once complete.
    event_columns = ", ".join({"source_file": "$source_file as source_file",
                               "format": "$format as format"}.get(name, name)
                              for name, _ in EVENT_COLUMNS)
    event_params = {"source_file": src.relative, "format": fmt.name}
    size = src.path.stat().st_size * (8 if src.path.name.lower().endswith(".gz") else 1)
    if size < SMALL_EXTRACT_BYTES:
        parsed, parts = _write_in_memory(con, parse_sql, parse_params, event_columns,
                                         event_params, scratch)
    else:
        parsed, parts = _write_by_bucket(con, parse_sql, parse_params, event_columns,
                                         event_params, scratch)
    con.execute("drop view raw_events")
    raw_path.unlink()
    mark("ingest.parsed")
    for bucket, part in parts:
        target = lake.events_path(sha, bucket)
        target.parent.mkdir(parents=True, exist_ok=True)
        durable_replace(part, target)
        mark("ingest.bucket_durable")
    _write_extents(con, parsed, lake, sha, scratch)
    con.execute("drop table clinician_buckets")
    return _write_quarantine(con, src, parsed, raw, lake, sha, scratch)


def _parse_statement(con, src: SourceFile, header: list[str], raw_path: Path,
                     settings: Settings, now: dt.datetime) -> tuple[str, dict[str, object]]:
    """Make the raw rows the view raw_events and their clinicians' buckets the table
    clinician_buckets; return the parse of sql/ingest/declared_format.sql and its parameters."""
    fmt = src.format
    assert fmt is not None
    raw_sql = f"read_parquet({sql_literal(str(raw_path))})"  # (a view takes no parameters)
    con.execute(f"create or replace temp view raw_events as "
                f"select *, {sql_literal(src.relative)} as source_file from {raw_sql}")
    # From here on rows carry their line numbers: DuckDB need not keep their order, which saves
    # the memory it would spend reordering parallel work.
    con.execute("set preserve_insertion_order = false")
    run_model_file(con, "ingest/clinician_buckets.sql")  # each clinician's lake bucket, once
    # Parsing streams (no step holds the file) into one folder per clinician bucket (-1: rows
    # without a clinician); each bucket's events are then sorted on their own, so the largest
    # sort is about a sixteenth of the file and a file larger than memory_limit goes through.
    params = fmt.sql_params(header, settings.default_timezone)
    # metric_id and process_id are read and checked (a bad one quarantines its
    # row) but not kept: the lake holds what the build and the audit trail need (lake.LAYOUT).
    parse_sql = f"""
        select p.* exclude (metric_id, process_id, extra_newlines),
               coalesce(b.bucket, -1) as bucket
        from ({read_sql('ingest/declared_format.sql')}) p
        left join clinician_buckets b using (clinician_id)"""
    parse_params = format_parse_params(params, now, has_bad_values(con, raw_sql))
    return parse_sql, parse_params


def _write_in_memory(con, parse_sql: str, parse_params: dict, event_columns: str,
                     event_params: dict, scratch: Path) -> tuple[str, list[tuple[int, Path]]]:
    """Parse into a temp table and write every bucket's events in one statement; return the
    parsed rows (SQL) and each bucket's events file in scratch."""
    # A nightly file of a few clinicians: parse in memory and write every bucket at once
    # (per-bucket statements would cost more than the data).
    con.execute(f"create or replace temp table parsed_rows as {parse_sql}", parse_params)
    parsed = "parsed_rows"
    con.execute(
        f"""copy (
            select {event_columns} from parsed_rows where reject_reason is null
            order by bucket, clinician_id, event_at, source_line
        ) to $events ({EVENTS_PARQUET},
            partition_by (bucket), filename_pattern 'part_{{i}}', write_partition_columns true)""",
        {**event_params, "events": str(scratch / "events")})
    parts = [(int(p.parent.name.split("=")[1]), p)
             for p in sorted((scratch / "events").glob("bucket=*/*.parquet"))]
    return parsed, parts


def _write_by_bucket(con, parse_sql: str, parse_params: dict, event_columns: str,
                     event_params: dict, scratch: Path) -> tuple[str, list[tuple[int, Path]]]:
    """Parse into one scratch folder per bucket, then sort and write each bucket on its own;
    return the parsed rows (SQL) and each bucket's events file in scratch."""
    # A large file streams: parsed rows go to one scratch folder per bucket (-1: rows with
    # no clinician), then each bucket is sorted on its own, so the largest sort is about a
    # sixteenth of the file and a file larger than memory_limit goes through.
    parsed_dir = scratch / "parsed"
    con.execute(f"copy ({parse_sql}) to $parsed "
                f"({SCRATCH_PARQUET}, partition_by (bucket), "
                "write_partition_columns true)", {**parse_params, "parsed": str(parsed_dir)})
    if not any(parsed_dir.glob("*/*.parquet")):  # a header and no rows
        (parsed_dir / "bucket=-1").mkdir(parents=True)
        con.execute(f"copy ({parse_sql} limit 0) to $empty (format parquet)",
                    {**parse_params, "empty": str(parsed_dir / "bucket=-1" / "empty.parquet")})
    # Read by several statements below, some without parameters: quoted, not bound.
    parsed = (f"read_parquet({sql_literal(str(parsed_dir / '*' / '*.parquet'))}, "
              "hive_partitioning = false)")
    parts = []
    for bucket in sorted(int(d.name.split("=")[1]) for d in parsed_dir.glob("bucket=*")):
        if bucket < 0:
            continue
        part = scratch / f"bucket-{bucket:02d}.parquet"
        con.execute(
            f"""copy (
                select {event_columns}
                from read_parquet($bucket_files, hive_partitioning = false)
                where reject_reason is null
                order by clinician_id, event_at, source_line
            ) to $part ({EVENTS_PARQUET})""",
            {**event_params, "part": str(part),
             "bucket_files": str(parsed_dir / f"bucket={bucket}" / "*.parquet")})
        if con.execute("select count(*) from read_parquet($p)",
                       {"p": str(part)}).fetchall()[0][0]:
            parts.append((bucket, part))  # (a bucket whose rows were all quarantined: none)
    return parsed, parts


def _write_extents(con, parsed: str, lake: Lake, sha: str, scratch: Path) -> None:
    """Write the file's extents: its events per clinician, bucket and UTC date."""
    extents_tmp = scratch / "extents.parquet"
    con.execute(
        f"""
        copy (
            select clinician_id, bucket, event_date_utc, events
            from (
                select clinician_id, cast(timezone('UTC', event_at) as DATE) as event_date_utc,
                       count(*) as events
                from {parsed} where reject_reason is null
                group by all
            ) join clinician_buckets using (clinician_id)
            order by all
        ) to $extents (format parquet)
        """,
        {"extents": str(extents_tmp)},
    )
    lake.extents_path(sha).parent.mkdir(parents=True, exist_ok=True)
    durable_replace(extents_tmp, lake.extents_path(sha))
    mark("ingest.extents_durable")


def _write_quarantine(con, src: SourceFile, parsed: str, raw: RawRead, lake: Lake, sha: str,
                      scratch: Path) -> dict:
    """Write the file's quarantine (the reader's rejects and the parse's) and return its
    ingest figures."""
    rows_written, rows_rejected = con.execute(
        f"select count(*) filter (where reject_reason is null), "
        f"count(*) filter (where reject_reason is not null) from {parsed}").fetchall()[0]
    con.register("reader_rejects", pa.Table.from_pylist(
        [{"source_line": line, "reason": reason} for line, reason in raw.rejects],
        schema=pa.schema([("source_line", pa.int64()), ("reason", pa.string())])))
    n_quarantined = rows_rejected + len(raw.rejects)
    quarantine_path = lake.quarantine_path(sha)
    if n_quarantined:
        quarantine_tmp = scratch / "quarantine.parquet"
        con.execute(
            f"""
            copy (
                select $source_file as source_file, source_line, reason, clinician_id from (
                    select source_line, reason, null::VARCHAR as clinician_id from reader_rejects
                    union all
                    select source_line, reject_reason, clinician_id from {parsed}
                    where reject_reason is not null
                ) order by source_line
            ) to $quarantine (format parquet)
            """,
            {"source_file": src.relative, "quarantine": str(quarantine_tmp)},
        )
        examples = con.execute(
            "select source_line, reason from read_parquet($q) order by source_line limit 5",
            {"q": str(quarantine_tmp)}).fetchall()
        for line, reason in examples:
            log.warning("%s line %s: %s", src.relative, line, reason)
        if n_quarantined > len(examples):
            log.warning("%s: %d more rows quarantined", src.relative, n_quarantined - len(examples))
        quarantine_path.parent.mkdir(parents=True, exist_ok=True)
        durable_replace(quarantine_tmp, quarantine_path)
        mark("ingest.quarantine_durable")
    else:
        quarantine_path.unlink(missing_ok=True)
    con.unregister("reader_rejects")
    con.execute("drop table if exists parsed_rows")
    return {"status": "ingested", "rows_read": raw.rows_read, "rows_quarantined": n_quarantined,
            "rows_written": rows_written,
            "message": (f"{n_quarantined} row(s) quarantined" if n_quarantined else None)}
