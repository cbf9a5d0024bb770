"""Ingest many extracts of one format in one pass (issue 23): one read of all of a night's
well-formed delimited extracts, one parse, one write of their lake files.

A nightly delivery is many small files; read one by one, each costs a dozen DuckDB statements
whose fixed cost is most of the ingest (bench/README.md). Here the extracts of one format that
share a header, delimiter, line end and compression are read together in one statement (a
`read_csv` per file, joined by `union all`), each row keeping its file and line, and parsed by the same
sql/ingest/declared_format.sql as a file read alone. Each file still gets its own events files
per clinician bucket, extents, quarantine and manifest row, exactly what reading it alone
writes (tests/unit/test_ingest_batch.py compares the two).

What one pass cannot take falls back to the file-at-a-time reader (`ingest_pending`), which
reads a malformed file carefully and places every rejected record on its line: a batch whose
strict read fails is read again file by file, and a file with a record spanning several lines
(an embedded line end, whose line numbers need the careful count) is read alone. Files that are
large, Parquet, UTF-16 or whose header cannot be read are never batched.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

from wow_metrics.config import Settings
from wow_metrics.files import fsync_dir
from wow_metrics.ingest import stream
from wow_metrics.ingest.batchplan import Shape, batch_shape

# The batches' planning (batchplan.py), imported from here too (tests/unit/test_ingest_batch.py).
from wow_metrics.ingest.batchplan import batch_limits as batch_limits
from wow_metrics.ingest.batchplan import plan_batches as plan_batches
from wow_metrics.ingest.discovery import SourceFile
from wow_metrics.ingest.formats import ROLES
from wow_metrics.ingest.keys import (
    PSEUDONYMISED,
    drop_keys,
    keys_as_build_side,
    pseudonym_keys,
    role_select,
)
from wow_metrics.ingest.lines import newline_count
from wow_metrics.ingest.parse import format_parse_params, has_bad_values
from wow_metrics.ingest.rawcsv import reader_sql
from wow_metrics.ingest.single import (
    IngestMemoryError,
    deferred,
    file_stat,
    ingest_pending,
    same_file,
)
from wow_metrics.ingest.textfile import is_resource_fault, literal_path
from wow_metrics.ingest.workers import thread_connection, worker_limits
from wow_metrics.lake import EVENT_COLUMNS, EVENTS_PARQUET, SCRATCH_PARQUET, Lake
from wow_metrics.progress import mark
from wow_metrics.pseudonym import hmac_pads
from wow_metrics.sqlfiles import read_sql
from wow_metrics.warehouse import run_model_file, sql_literal

log = logging.getLogger(__name__)


class _ReadAlone(Exception):
    """The batch cannot be read in one pass: its files are read one by one."""


def ingest_batch(batch: list, lake: Lake, settings: Settings, key: bytes, now: dt.datetime,
                 workers: int = 1) -> list[dict]:
    """Read a batch of extracts (plan_batches) into the lake; return each file's ingest
    figures, in batch order. A batch of one is read by `ingest_pending`."""
    # The threshold is read from its module when called (a test lowers it there).
    shape = batch_shape(batch[0], stream.SMALL_EXTRACT_BYTES) if len(batch) > 1 else None
    if shape is None:
        return [ingest_pending(p, lake, settings, key, now, workers=workers) for p in batch]
    con = thread_connection(*worker_limits(settings, workers))
    scratch = lake.root / "scratch" / f"batch-{batch[0].sha}-{os.getpid()}-{threading.get_ident()}"
    try:
        done = _read_together(con, batch, shape, lake, settings, key, now, scratch)
    except duckdb.OutOfMemoryException as exc:
        raise IngestMemoryError(
            f"{len(batch)} extracts of {batch[0].format_name} read together need more memory "
            f"than DuckDB may use (memory_limit {settings.memory_limit or 'default'}): "
            f"{str(exc).splitlines()[0]}. Raise memory_limit in wow.yaml or lower threads. "
            "Nothing of these files was published; the next run reads them again.") from None
    except _ReadAlone as exc:
        log.info("%d extracts of %s read one by one: %s", len(batch), batch[0].format_name, exc)
        done = {}
    except Exception as exc:  # noqa: BLE001 (a file never stops the run: read them alone)
        if is_resource_fault(exc) or isinstance(exc, OSError | duckdb.IOException):
            raise
        log.info("%d extracts of %s read one by one (%s)", len(batch), batch[0].format_name,
                 type(exc).__name__)
        done = {}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return [done[p.sha] if p.sha in done
            else ingest_pending(p, lake, settings, key, now, workers=workers)
            for p in batch]


def _read_together(con, batch: list, shape: Shape, lake: Lake, settings: Settings,
                   key: bytes, now: dt.datetime, scratch: Path) -> dict[str, dict]:
    """The one pass: every file of the batch read, parsed and written to the lake. Returns the
    figures of the files it took (a file it leaves out is read alone by the caller)."""
    results: dict[str, dict] = {}
    taken = []
    for p in batch:
        mark("ingest.file_started")
        before = file_stat(Path(p.path))
        if not same_file(p.planned_stat, before):
            src = SourceFile(Path(p.path), p.relative, p.fmt)
            results[p.sha] = deferred(src, p.planned_stat, before,
                                      "since this run planned to read it")
        else:
            taken.append((p, before))
    if len(taken) < 2:
        return results  # the rest is read alone
    (scratch / "spill").mkdir(parents=True)
    con.execute("set temp_directory = $d", {"d": str(scratch / "spill")})
    files = [p for p, _ in taken]
    parsed = _parse_together(con, files, shape, scratch / "parsed.parquet", settings, key, now)
    mark("ingest.raw_read")
    kept = []
    for p, before in taken:
        after = file_stat(Path(p.path))
        if after != before:
            src = SourceFile(Path(p.path), p.relative, p.fmt)
            results[p.sha] = deferred(src, before, after, "while this run read it")
        elif p.relative not in parsed.multiline:
            kept.append(p)
    if kept:
        results.update(_write_lake(con, files, kept, parsed, lake, scratch))
    return results


@dataclass
class _Parsed:
    """The batch's records read and parsed into scratch: each with its file (`f`, its place in
    the batch), line and keyed identifiers, and why it is quarantined, if it is."""

    rows: str                              # SQL of the parsed records
    figures: dict[int, tuple[int, int]]    # per file (`f`): its good and quarantined records
    multiline: set[str]                    # files with a record over several lines: read alone


def _parse_together(con, batch: list, shape: Shape, out: Path, settings: Settings, key: bytes,
                    now: dt.datetime) -> _Parsed:
    """Read every file of the batch once, strictly, and parse it into `out` in the same
    statement (sql/ingest/declared_format.sql); raise _ReadAlone when any record is malformed
    (the careful reader places it on its line)."""
    fmt = batch[0].fmt
    assert fmt is not None
    header = list(shape.header)
    position = {name.lower(): i for i, name in enumerate(header)}
    times = fmt.time_columns
    roles = {**{r: fmt.role_columns.get(r) for r in ROLES},
             "time_1": times[0], "time_2": times[1] if len(times) > 1 else None}
    sources = {role: (f"c{position[col.lower()]}" if col is not None and col.lower() in position
                      else "null") for role, col in roles.items()}
    names = {role: col for role, col in roles.items() if col is not None}
    params = {"spec": {f"c{i}": "VARCHAR" for i in range(len(header))},
              "delim": shape.delimiter, "quote": fmt.quote, "enc": fmt.encoding,
              **{f"path_{i}": literal_path(p.path) for i, p in enumerate(batch)}}
    names_of = {f"file_{i}": p.relative for i, p in enumerate(batch)}
    strict = reader_sql(strict=True)
    lenient = strict.removesuffix(")") + ", ignore_errors = true)"
    # One read_csv per file, not one over the list: DuckDB 2.0.1's multi-file CSV reader, given
    # five files or more, drops a file's malformed records (an unterminated quote) without the
    # error a single file's read raises (tests/unit/test_ingest_batch.py). Each file's record
    # numbers come from a streaming row_number() over (), which DuckDB runs in the file's order
    # whatever preserve_insertion_order says (its pipeline is order-fixed), before any join.
    by_file = " union all ".join(
        f"select $file_{i} as source_file, row_number() over () + 1 as source_line, "
        f"{newline_count(len(header), shape.newline)} as extra_newlines, * "
        f"from {strict.replace('$path', f'$path_{i}')}" for i in range(len(batch)))
    all_ids = "(" + " union all ".join(
        f"select * from {lenient.replace('$path', f'$path_{i}')}" for i in range(len(batch))) + ")"
    con.execute("set preserve_insertion_order = false")
    con.register("_batch_files", pa.table({"f": pa.array(range(len(batch)), pa.int32()),
                                           "source_file": [p.relative for p in batch]}))
    keyed: dict[str, str] = {}
    try:
        joins, keyed, problem = pseudonym_keys(con, all_ids, params, sources, PSEUDONYMISED,
                                               hmac_pads(key), names)
        raw = (f"select r.source_file, r.source_line, r.extra_newlines, "
               f"{role_select(sources, PSEUDONYMISED, keyed)}, {problem} as id_problem "
               f"from ({by_file}) r {joins}")
        for check_values in (False, True):
            rows = _parse_into(con, out, raw, {**params, **names_of}, fmt, header, settings,
                               now, check_values)
            # Rare: a value no format can hold; the batch is parsed again, checked row by row.
            if check_values or not has_bad_values(con, rows):
                break
    except Exception as exc:
        if is_resource_fault(exc) or isinstance(exc, duckdb.OutOfMemoryException):
            raise
        raise _ReadAlone(f"a record does not read strictly ({type(exc).__name__})") from None
    finally:
        drop_keys(con, keyed)
        con.unregister("_batch_files")
    figures, multiline = {}, set()
    for f, good, bad, extra in con.execute(
            f"select f, count(*) filter (where reject_reason is null), "
            f"count(*) filter (where reject_reason is not null), sum(extra_newlines) "
            f"from {rows} group by f").fetchall():
        figures[f] = (good, bad)
        if extra:
            multiline.add(batch[f].relative)
    return _Parsed(rows, figures, multiline)


def _parse_into(con, out: Path, raw: str, params: dict, fmt, header: list[str],
                settings: Settings, now: dt.datetime, check_values: bool) -> str:
    """One statement: the batch's records (`raw`: read, numbered and keyed), every one parsed
    and checked, into `out`; returns the SQL that reads it. The metric and process ids stay in
    it for has_bad_values; the lake does not keep them."""
    parse_params = format_parse_params(fmt.sql_params(header, settings.default_timezone), now,
                                       check_values)
    with keys_as_build_side(con):
        con.execute(
            f"""copy (
                with raw_events as ({raw})
                select p.*, b.f
                from ({read_sql('ingest/declared_format.sql')}) p
                join _batch_files b using (source_file)
            ) to $out ({SCRATCH_PARQUET})""", {**params, **parse_params, "out": str(out)})
    return f"read_parquet({sql_literal(str(out))})"


def _write_lake(con, taken: list, kept: list, parsed: _Parsed, lake: Lake,
                scratch: Path) -> dict[str, dict]:
    """Write each kept file's events, extents and quarantine from the batch's parsed records
    (`taken`: the batch's files in their order, which `f` numbers), as reading it alone would."""
    keep = ", ".join(str(taken.index(p)) for p in kept)
    rows = f"(select * from {parsed.rows} where f in ({keep}))"
    con.execute(f"create or replace temp view raw_events as select clinician_id from {rows}")
    run_model_file(con, "ingest/clinician_buckets.sql")  # each clinician's lake bucket, once
    con.execute("drop view raw_events")
    bucketed = (f"(select r.*, coalesce(b.bucket, -1) as bucket from {rows} r "
                "left join clinician_buckets b using (clinician_id))")
    mark("ingest.parsed")
    for p in kept:
        for old in lake.events_paths(p.sha):
            old.unlink()  # an earlier reading of this content (its format's declaration changed)
    shas = [p.sha for p in taken]
    _write_events(con, bucketed, kept[0].fmt.name, shas, scratch / "events", lake)
    _write_extents(con, bucketed, taken, kept, scratch / "extents", lake)
    con.execute("drop table clinician_buckets")
    figures = {shas[f]: counts for f, counts in parsed.figures.items()
               if taken[f] in kept}
    _write_quarantine(con, rows, taken, kept, figures, scratch / "quarantine", lake)
    results = {}
    for p in kept:
        good, bad = figures.get(p.sha, (0, 0))
        results[p.sha] = {"status": "ingested", "rows_read": good + bad,
                          "rows_quarantined": bad, "rows_written": good,
                          "message": f"{bad} row(s) quarantined" if bad else None}
    return results


def _partitions(folder: Path, depth: int) -> dict[tuple[str, ...], Path]:
    """The one file of each partition of a partitioned COPY, by its partition values."""
    found: dict[tuple[str, ...], Path] = {}
    for path in sorted(folder.glob("/".join(["*"] * depth) + "/*.parquet")):
        values = tuple(part.split("=", 1)[1] for part in path.relative_to(folder).parts[:-1])
        if values in found:
            raise RuntimeError(f"partitioned write made two files for {values}")
        found[values] = path
    return found


def _place(moves: list[tuple[Path, Path]]) -> None:
    """Move written files into the lake durably: each file's data reaches the disk before its
    name, and each folder's names before this returns (one fsync per folder, not per file)."""
    for written, _ in moves:
        with open(written, "rb") as fh:
            os.fsync(fh.fileno())
    for written, final in moves:
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(written, final)
    for folder in sorted({final.parent for _, final in moves}):
        fsync_dir(folder)


def _write_events(con, rows: str, format_name: str, shas: list[str], folder: Path,
                  lake: Lake) -> None:
    columns = ", ".join("$format as format" if name == "format" else name
                        for name, _ in EVENT_COLUMNS)
    # Partitioned by file and bucket (copies of both, so the files hold EVENT_COLUMNS only);
    # enough writers open at once that each partition is one file. Rows go in sorted, which
    # clusters each file by clinician and time (what its compression gains from); DuckDB's
    # partitioned write does not promise to keep that order exactly, and nothing reads the
    # lake in file order (the build sorts).
    con.execute("set partitioned_write_max_open_files = 100000")
    con.execute(
        f"""copy (
            select {columns}, f as _f, bucket as _bucket from {rows}
            where reject_reason is null and bucket >= 0
            order by f, bucket, clinician_id, event_at, source_line
        ) to $events ({EVENTS_PARQUET}, partition_by (_f, _bucket),
                      write_partition_columns false, filename_pattern 'part_{{i}}')""",
        {"format": format_name, "events": str(folder)})
    moves = [(path, lake.events_path(shas[int(f)], int(bucket)))
             for (f, bucket), path in _partitions(folder, 2).items()]
    _place(moves)
    for _ in moves:
        mark("ingest.bucket_durable")


def _write_extents(con, rows: str, taken: list, kept: list, folder: Path, lake: Lake) -> None:
    con.execute(
        f"""copy (
            select clinician_id, bucket, event_date_utc, events, f as _f
            from (
                select f, clinician_id, bucket,
                       cast(timezone('UTC', event_at) as DATE) as event_date_utc, count(*) as events
                from {rows} where reject_reason is null and bucket >= 0
                group by all
            )
            order by all
        ) to $extents (format parquet, partition_by (_f), write_partition_columns false)""",
        {"extents": str(folder)})
    written = {taken[int(f)].sha: path for (f,), path in _partitions(folder, 1).items()}
    for p in kept:
        if p.sha not in written:  # no good rows: an empty extents file, as a file read alone
            written[p.sha] = folder / f"{p.sha}-empty.parquet"
            con.execute("copy (select null::VARCHAR as clinician_id, null::INTEGER as bucket, "
                        "null::DATE as event_date_utc, null::BIGINT as events limit 0) "
                        "to $f (format parquet)", {"f": str(written[p.sha])})
    _place([(written[p.sha], lake.extents_path(p.sha)) for p in kept])
    for _ in kept:
        mark("ingest.extents_durable")


def _write_quarantine(con, rows: str, taken: list, kept: list, figures: dict, folder: Path,
                      lake: Lake) -> None:
    if any(bad for _, bad in figures.values()):
        con.execute(
            f"""copy (
                select source_file, source_line, reject_reason as reason, clinician_id,
                       f as _f
                from {rows} where reject_reason is not null
                order by source_file, source_line
            ) to $q (format parquet, partition_by (_f), write_partition_columns false)""",
            {"q": str(folder)})
        for source_file, line, reason in con.execute(
                f"""select source_file, source_line, reject_reason from {rows}
                    where reject_reason is not null
                    qualify row_number() over (partition by source_file order by source_line) <= 5
                    order by source_file, source_line""").fetchall():
            log.warning("%s line %s: %s", source_file, line, reason)
        for p in kept:
            bad = figures.get(p.sha, (0, 0))[1]
            if bad > 5:
                log.warning("%s: %d more rows quarantined", p.relative, bad - 5)
    written = ({taken[int(f)].sha: path for (f,), path in _partitions(folder, 1).items()}
               if folder.exists() else {})
    _place([(path, lake.quarantine_path(sha)) for sha, path in written.items()])
    for p in kept:
        if p.sha in written:
            mark("ingest.quarantine_durable")
        else:
            lake.quarantine_path(p.sha).unlink(missing_ok=True)
