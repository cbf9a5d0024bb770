"""Hostile extracts: each ends in a clear message (file, line, reason), a quarantine record and a
reconciled manifest (SPEC 9), or is read correctly. Fuzzed readers never crash or lose a row."""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import os
import random
import shutil
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_ingest import (
    TEST_KEY,
    assert_reconciles,
    counts,
    lake_events,
    live_manifest,
    quarantined,
    utc,
)

from wow_metrics.config import Settings
from wow_metrics.ingest import SourceFile, _connect, _ingest_one
from wow_metrics.ingest import batch as batching
from wow_metrics.ingest.formats import registry
from wow_metrics.lake import Lake
from wow_metrics.pseudonym import patient_key

NIGHT = "audit/canonical/night.csv"


def write(landing, relative: str, data: bytes) -> str:
    path = landing.root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return relative


def test_utf8_bom_before_the_header_is_ignored(landing):
    write(landing, NIGHT, b"\xef\xbb\xbfclinician_id,event_time,action\n"
                          b"c1,2026-03-02T14:00:00Z,Chart opened\n"
                          b"c1,2026-03-02T14:03:00Z,Chart opened\n")
    pub = landing.run()
    assert pub.day("c1", "2026-03-02")["ehr_minutes"] == 3.0
    assert quarantined(pub, NIGHT) == []
    assert_reconciles(pub)


def test_crlf_line_ends_leave_no_carriage_returns_and_lines_stay_exact(landing):
    write(landing, NIGHT, b"clinician_id,event_time,action,workstation_id\r\n"
                          b"c1,2026-03-02T14:00:00Z,Chart opened,WS1\r\n"
                          b",2026-03-02T14:01:00Z,Chart opened,WS1\r\n"
                          b"c1,2026-03-02T14:03:00Z,Chart opened,WS1\r\n")
    pub = landing.run()
    assert quarantined(pub, NIGHT) == [(3, "missing clinician_id")]
    events = lake_events(landing)
    assert [(e["source_line"], e["action"], e["workstation_id"]) for e in events] == [
        (2, "Chart opened", "WS1"), (4, "Chart opened", "WS1")]
    assert pub.day("c1", "2026-03-02")["ehr_minutes"] == 3.0
    assert_reconciles(pub)


@pytest.mark.parametrize("delimiter", ["|", "\t"])
def test_pipe_and_tab_delimited_extracts_are_read(landing, delimiter):
    d = delimiter.encode()
    write(landing, NIGHT, d.join([b"clinician_id", b"event_time", b"action", b"patient_id"]) + b"\n"
          + d.join([b"c1", b"2026-03-02T14:00:00Z", b"Chart, opened", b"P1"]) + b"\n"
          + d.join([b"c1", b"2026-03-02T14:04:00Z", b"Chart, opened", b"P1"]) + b"\n")
    epic = "audit/epic_access_log/access.csv"
    write(landing, epic, d.join([b"USER_ID", b"ACCESS_INSTANT", b"METRIC_NAME"]) + b"\n"
          + d.join([b"u1", b"2026-03-02 14:00:00", b"In Basket message viewed"]) + b"\n"
          + d.join([b"u1", b"2026-03-02 14:02:00", b"In Basket message viewed"]) + b"\n")
    pub = landing.run()
    assert pub.day("c1", "2026-03-02")["ehr_minutes"] == 4.0
    assert {e["action"] for e in lake_events(landing) if e["format"] == "canonical"} == {"Chart, opened"}
    assert pub.day("u1", "2026-03-02")["inbox_minutes"] == 2.0
    assert quarantined(pub, NIGHT) == [] and quarantined(pub, epic) == []
    assert_reconciles(pub)


def test_non_utf8_bytes_quarantine_their_row_only(landing):
    write(landing, NIGHT, b"clinician_id,event_time,action,workstation_id\n"
                          b"c1,2026-03-02T14:00:00Z,Chart opened,WS1\n"
                          b"c1,2026-03-02T14:01:00Z,Chart opened,Caf\xe9-\xff\xfe\n"
                          b"c1,2026-03-02T14:03:00Z,Chart opened,WS1\n")
    pub = landing.run()
    rows = quarantined(pub, NIGHT)
    assert [line for line, _ in rows] == [3]
    assert "encoding" in rows[0][1].lower() or "unicode" in rows[0][1].lower(), rows[0][1]
    assert counts(live_manifest(pub, NIGHT)) == {
        "rows_read": 3, "rows_loaded": 2, "rows_quarantined": 1, "rows_duplicate": 0,
        "rows_excluded": 0}
    assert_reconciles(pub)


def test_missing_header_is_quarantined_whole_without_echoing_the_data(landing):
    write(landing, NIGHT, b"c1,2026-03-02T14:00:00Z,Chart opened,ZPAT-4242\n"
                          b"c1,2026-03-02T14:03:00Z,Chart opened,ZPAT-4242\n")
    pub = landing.run()
    [(line, reason)] = quarantined(pub, NIGHT)
    assert line is None
    assert "missing required column(s) clinician_id, action, event_time" in reason
    assert "header line missing" in reason
    assert "ZPAT-4242" not in reason and "c1" not in reason
    assert live_manifest(pub, NIGHT)["status"] == "quarantined"
    assert_reconciles(pub)


def test_missing_required_column_names_it_and_what_was_recognised(landing):
    write(landing, NIGHT, b"clinician_id,event_time,activity\n"
                          b"c1,2026-03-02T14:00:00Z,Chart opened\n")
    pub = landing.run()
    [(line, reason)] = quarantined(pub, NIGHT)
    assert line is None
    assert "missing required column(s) action for format canonical" in reason
    assert "recognised column(s): clinician_id, event_time; 1 other column(s) not shown" in reason
    assert_reconciles(pub)


def test_timestamps_in_several_iso_formats_are_all_read(landing):
    texts = [
        ("2026-03-02T14:00:00Z", utc(2026, 3, 2, 14, 0)),
        ("2026-03-02 14:01:00", utc(2026, 3, 2, 14, 1)),            # naive: default_timezone UTC
        ("2026-03-02T14:01:30.5", utc(2026, 3, 2, 14, 1, 30, 500000)),
        ("2026-03-02T14:02:00.123456789Z", utc(2026, 3, 2, 14, 2, 0, 123456)),  # ns truncated
        ("2026-03-02T14:02:30,25Z", utc(2026, 3, 2, 14, 2, 30, 250000)),       # comma fraction
        ("2026-03-02T19:33:00+05:30", utc(2026, 3, 2, 14, 3)),
        ("2026-03-02T09:03:30-0500", utc(2026, 3, 2, 14, 3, 30)),
        ("2026-03-02T16:04+02", utc(2026, 3, 2, 14, 4)),
        ("2026-03-02 14:04:30 Z", utc(2026, 3, 2, 14, 4, 30)),
    ]
    rows = b"".join(f'c1,"{t}",Chart opened\n'.encode() for t, _ in texts)
    write(landing, NIGHT, b"clinician_id,event_time,action\n" + rows)
    pub = landing.run()
    assert quarantined(pub, NIGHT) == []
    assert [e["event_at"] for e in lake_events(landing)] == [i for _, i in texts]
    assert pub.day("c1", "2026-03-02")["ehr_minutes"] == 4.5
    assert_reconciles(pub)


def test_whitespace_around_ids_is_trimmed(landing):
    write(landing, NIGHT, b"clinician_id,event_time,action,patient_id\n"
                          b"  c1 ,2026-03-02T14:00:00Z, Chart opened ,ZPAT-1\n"
                          b"c1\t,2026-03-02T14:02:00Z,Chart opened, ZPAT-1 \n"
                          b"c1,2026-03-02T14:03:00Z,Chart opened,ZPAT-1\n")
    pub = landing.run()
    events = lake_events(landing)
    assert {e["clinician_id"] for e in events} == {"c1"}
    assert {e["action"] for e in events} == {"Chart opened"}
    assert {e["patient_key"] for e in events} == {patient_key(TEST_KEY, "ZPAT-1")}
    assert pub.day("c1", "2026-03-02")["ehr_minutes"] == 3.0
    assert_reconciles(pub)


def test_a_patient_id_shifted_into_the_time_column_is_not_echoed(landing):
    write(landing, NIGHT, b"clinician_id,event_time,action,patient_id\n"
                          b"c1,ZPAT-31337,Chart opened,\n"
                          b"c1,2026-03-02T14:00:00Z,Chart opened,ZPAT-1\n")
    pub = landing.run()
    assert quarantined(pub, NIGHT) == [(2, 'unparseable event_time (value "AAAA-99999")')]
    assert_reconciles(pub)


def test_truncated_gzip_larger_than_its_header_is_quarantined_whole(landing):
    body = b"clinician_id,event_time,action\n" + b"".join(
        f"c{i % 7},2026-03-02T14:{i % 60:02d}:00Z,Chart opened {i}\n".encode()
        for i in range(200_000))
    packed = gzip.compress(body)
    relative = write(landing, "audit/canonical/night.csv.gz", packed[: len(packed) // 2])
    pub = landing.run()
    [(line, reason)] = quarantined(pub, relative)
    assert line is None and "gzip" in reason.lower(), reason
    assert lake_events(landing) == []
    assert_reconciles(pub)


# ---------------------------------------------------------------------------------------------
# A file larger than the memory DuckDB may use is streamed, not loaded
# ---------------------------------------------------------------------------------------------

def test_file_larger_than_the_memory_limit_is_streamed_with_exact_line_numbers(tmp_path: Path):
    """2.8M rows (about 175 MB of CSV, more as DuckDB strings) under a 160 MB limit."""
    n = 2_800_000
    path = tmp_path / "big.csv"
    with duckdb.connect() as con:
        con.execute(f"""copy (
            select 'c' || (i % 997) as clinician_id,
                   strftime(timestamp '2026-03-01' + to_microseconds(i * 2000003), '%Y-%m-%dT%H:%M:%S.%f')
                       || 'Z' as event_time,
                   'Chart opened' as action, 'ZPAT-' || (i % 50021) as patient_id,
                   'line-' || (i + 2) as workstation_id
            from range({n}) r(i)) to '{path}' (header)""")
    assert path.stat().st_size > 165_000_000
    lake = Lake(tmp_path / "warehouse")
    fmt = registry().get("canonical")
    con = _connect("160MB", threads=2)
    try:
        result = _ingest_one(con, SourceFile(path, NIGHT, fmt), "f" * 64, lake,
                             Settings(memory_limit="160MB", threads=2), TEST_KEY,
                             dt.datetime(2026, 11, 23, tzinfo=dt.UTC))
    finally:
        con.close()
    assert result["status"] == "ingested", result
    assert (result["rows_read"], result["rows_written"], result["rows_quarantined"]) == (n, n, 0)
    with duckdb.connect() as con:
        files = [str(p) for p in lake.events_paths("f" * 64)]
        assert len(files) == 16
        total, mismatched, clear = con.execute(
            "select count(*), count(*) filter (where workstation_id <> 'line-' || source_line), "
            "count(*) filter (where patient_key::VARCHAR like 'ZPAT%') from read_parquet($f)",
            {"f": files}).fetchall()[0]
    assert (total, mismatched, clear) == (n, 0, 0)
    assert not (lake.root / "scratch").exists() or not any((lake.root / "scratch").iterdir())


# ---------------------------------------------------------------------------------------------
# Fuzz: whatever bytes arrive, the reader ends in rows loaded + rows quarantined = rows read,
# or a whole-file quarantine with a reason; it never raises.
# ---------------------------------------------------------------------------------------------

_FIELDS = st.one_of(
    st.sampled_from(["c1", " c2 ", "", "2026-03-02T14:00:00Z", "2026-03-02 14:01:00",
                     "03/02/2026 14:00", "not a time", "Chart opened", "inbox", "paperwork",
                     "1989-01-01T00:00:00Z", "2099-01-01T00:00:00Z", "2026-03-08T02:30:00",
                     "2026-11-01 01:30:00", '"quoted, comma"', '"multi\nline"', '"', "\u00e9",
                     "ZPAT-1"]),
    st.text(max_size=12),
)
_LINES = st.lists(st.lists(_FIELDS, min_size=0, max_size=7).map(",".join), max_size=12)
_HEADERS = st.sampled_from([
    "clinician_id,event_time,action", "clinician_id,event_time,action,category,patient_id",
    "event_time,action,clinician_id,workstation_id", "clinician_id|event_time|action",
    "\ufeffclinician_id,event_time,action", "clinician,time,action", "",
])


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(header=_HEADERS, lines=_LINES, line_end=st.sampled_from(["\n", "\r\n"]),
       garbage=st.one_of(st.none(), st.binary(max_size=40)), gz=st.booleans())
def test_fuzzed_extracts_never_crash_and_always_reconcile(tmp_path_factory, header, lines,
                                                          line_end, garbage, gz):
    root = tmp_path_factory.mktemp("fuzz")
    data = (line_end.join([header, *lines]) + line_end).encode("utf-8")
    if garbage is not None:
        cut = random.Random(len(data)).randrange(len(data) + 1)
        data = data[:cut] + garbage + data[cut:]
    name = "night.csv.gz" if gz else "night.csv"
    path = root / name
    path.write_bytes(gzip.compress(data) if gz else data)
    lake = Lake(root / "warehouse")
    con = _connect()
    try:
        result = _ingest_one(con, SourceFile(path, f"audit/canonical/{name}", registry().get("canonical")),
                             "a" * 64, lake, Settings(default_timezone="America/New_York"),
                             TEST_KEY, dt.datetime(2026, 11, 23, tzinfo=dt.UTC))
    finally:
        con.close()
    with duckdb.connect() as q:
        files = [str(p) for p in lake.events_paths("a" * 64)]
        loaded = q.execute("select count(*) from read_parquet($f)", {"f": files}).fetchall()[0][0] \
            if files else 0
        qpath = lake.quarantine_path("a" * 64)
        rows = q.execute("select source_line, reason from read_parquet($p)",
                         {"p": str(qpath)}).fetchall() if qpath.exists() else []
    if result["status"] == "quarantined":
        assert result["rows_read"] == 0 and loaded == 0
        assert len(rows) == 1 and rows[0][0] is None and rows[0][1].startswith("file quarantined: ")
    else:
        assert result["status"] == "ingested"
        assert result["rows_read"] == result["rows_written"] + result["rows_quarantined"]
        assert loaded == result["rows_written"]
        assert len(rows) == result["rows_quarantined"]
        assert all(line is not None and line >= 2 and reason for line, reason in rows)
        assert "ZPAT-1" not in repr(rows)
    shutil.rmtree(root, ignore_errors=True)


def _lake_rows(lake: Lake, sha: str) -> tuple[list[tuple], list[tuple]]:
    with duckdb.connect() as con:
        files = [str(p) for p in lake.events_paths(sha)]
        events = con.execute("select * from read_parquet($f) order by all", {"f": files}
                             ).fetchall() if files else []
        q = lake.quarantine_path(sha)
        rejects = con.execute("select * from read_parquet($p) order by all", {"p": str(q)}
                              ).fetchall() if q.exists() else []
    return events, rejects


@pytest.mark.parametrize("content", [
    b"clinician_id,event_time,action,patient_id\n",                       # header only
    b"clinician_id,event_time,action\n,2026-03-02T14:00:00Z,a\nc1,bad,a\n",  # every row rejected
    b"clinician_id,event_time,action,patient_id\r\nc1,2026-03-02T14:00:00Z,a,P1\r\n"
    b"c2,2026-03-02T14:01:00Z,a,P2,extra\r\n,2026-03-02T14:01:00Z,a,P3\r\n"
    b'c3,2026-03-02T14:02:00Z,"multi\nline",P1\r\nc1,2026-03-02T14:03:00Z,a,\r\n',
])
def test_streamed_and_in_memory_paths_write_the_same_lake(tmp_path: Path, monkeypatch, content):
    """Large extracts stream bucket by bucket, small ones are parsed in memory: same rows."""
    import wow_metrics.ingest.stream as stream

    path = tmp_path / "night.csv"
    path.write_bytes(content)
    results = []
    for threshold in (stream.SMALL_EXTRACT_BYTES, 0):
        monkeypatch.setattr(stream, "SMALL_EXTRACT_BYTES", threshold)
        lake = Lake(tmp_path / f"wh-{threshold}")
        con = _connect()
        try:
            result = _ingest_one(con, SourceFile(path, NIGHT, registry().get("canonical")), "c" * 64,
                                 lake, Settings(), TEST_KEY, dt.datetime(2026, 11, 23, tzinfo=dt.UTC))
        finally:
            con.close()
        results.append((result, _lake_rows(lake, "c" * 64)))
    assert results[0] == results[1]


def _two_digits(low: int, high: int):
    return st.integers(low, high).map(lambda n: f"{n:02d}")


# Texts shaped like ISO-8601 with an offset, near and off the shape the fast reading takes.
_OFFSET_TEXTS = st.builds(
    lambda y, mo, d, sep, h, mi, s, frac, off: f"{y}-{mo}-{d}{sep}{h}:{mi}{s}{frac}{off}",
    y=st.sampled_from(["2026", "1990", "1989", "0001", "9999", "20x6"]),
    mo=_two_digits(0, 13), d=_two_digits(0, 32),
    sep=st.sampled_from(["T", " ", "t"]),
    h=_two_digits(0, 25), mi=_two_digits(0, 61),
    s=st.one_of(st.just(""), _two_digits(0, 61).map(lambda v: ":" + v)),
    frac=st.one_of(st.just(""), st.tuples(st.sampled_from([".", ","]),
                                          st.text("0123456789", min_size=0, max_size=10))
                   .map("".join)),
    off=st.one_of(st.sampled_from(["Z", "z", "", "+00:00", "-00:00"]),
                  st.tuples(st.sampled_from(["+", "-"]), _two_digits(0, 99),
                            st.sampled_from([":", ""]), st.sampled_from(["", "00", "30", "45", "99"]))
                  .map(lambda t: t[0] + t[1] + (t[2] + t[3] if t[3] else ""))),
)


@settings(max_examples=40, deadline=None)
@given(texts=st.lists(_OFFSET_TEXTS, min_size=1, max_size=40))
def test_fast_reading_of_offset_times_equals_the_full_reading(texts):
    # The parse reads 'YYYY-MM-DDTHH:MM:SS[.f]Z|+HH:MM' with DuckDB's TIMESTAMPTZ cast; every
    # other text takes the regex reading. Both must give the same instant, or both none.
    from wow_metrics.ingest import NOT_BEFORE
    from wow_metrics.sqlfiles import read_sql

    params = registry().get("canonical").sql_params(
        ["clinician_id", "event_time", "action"], "America/New_York")
    params = {**params, "not_after": dt.datetime(9999, 12, 31, tzinfo=dt.UTC),
              "not_before": dt.datetime(1, 1, 1, tzinfo=dt.UTC), "check_values": False,
              "max_id_chars": 128, "max_text_chars": 256}
    assert NOT_BEFORE > params["not_before"]
    con = _connect()
    try:
        con.execute("create temp table raw_events as select 'f.csv' as source_file, range + 2 as source_line, "
                    "'c1' as clinician_id, 'Chart opened' as action, "
                    + ", ".join(f"null::VARCHAR as {c}" for c in (
                        "report_name", "category", "patient_key", "workstation_id",
                        "metric_id", "process_id", "time_2", "id_problem"))
                    + ", $texts[range + 1] as time_1, 0 as extra_newlines from range(len($texts))", {"texts": texts})
        rows = con.execute(
            f"""select r.time_1, p.event_at,
                       wow_iso_instant(wow_iso_wall(wow_iso_parts(r.time_1)),
                                       wow_iso_parts(r.time_1).tz, 'America/New_York') as full_at
                from ({read_sql('ingest/declared_format.sql')}) p
                join raw_events r using (source_line)""", params).fetchall()
    finally:
        con.close()
    assert len(rows) == len(texts)
    for text, fast, full in rows:
        assert fast == full, text


# ---------------------------------------------------------------------------------------------
# Issue 22, "nothing lost": each class of the red-team pass, reproduced
# ---------------------------------------------------------------------------------------------

def _night(rows: int, start_minute: int = 0, clinician: str = "c1") -> bytes:
    return b"clinician_id,event_time,action\n" + b"".join(
        f"{clinician},2026-03-02T{(start_minute + i) // 60 + 8:02d}:{(start_minute + i) % 60:02d}:00Z,"
        f"Chart opened\n".encode() for i in range(rows))


def _ingest(path: Path, relative: str = NIGHT, warehouse: Path | None = None,
            fmt: str = "canonical", settings: Settings | None = None) -> tuple[dict, list[tuple]]:
    """_ingest_one on one file into a fresh lake: its result and (line, reason, clinician) rows."""
    lake = Lake(warehouse or path.parent / "warehouse")
    con = _connect()
    try:
        result = _ingest_one(con, SourceFile(path, relative, registry().get(fmt)), "e" * 64, lake,
                             settings or Settings(), TEST_KEY,
                             dt.datetime(2026, 11, 23, tzinfo=dt.UTC))
    finally:
        con.close()
    q = lake.quarantine_path("e" * 64)
    with duckdb.connect() as c:
        rows = c.execute("select source_line, reason, clinician_id from read_parquet($p) "
                         "order by source_line nulls first", {"p": str(q)}).fetchall() if q.exists() else []
    return result, rows


def test_an_extract_changed_between_planning_and_reading_is_left_for_the_next_run(landing,
                                                                                  monkeypatch):
    """Issue 22, case 1: the hash was taken at planning and the rows read later; a file being
    rewritten in place was recorded with the whole file's hash and a partial read's rows, and
    never read again. Now a file that changed since it was hashed, or while it was read, is not
    recorded at all; the next run reads what it holds then."""
    import wow_metrics.ingest.rawcsv as rawcsv
    from wow_metrics.ingest import ingest_pending, plan_ingest, record_ingest
    from wow_metrics.pipeline import start_run

    full = _night(50)
    rewritten = write(landing, "audit/canonical/rewritten.csv", full)
    appended = write(landing, "audit/canonical/appended.csv", _night(5, clinician="c2"))
    during = write(landing, "audit/canonical/during.csv", _night(4, clinician="c3"))
    ctx = start_run(landing.root, landing.warehouse)
    plan = plan_ingest(ctx.landing, ctx.lake, ctx.settings, ctx.key, ctx.run_id)
    assert {p.relative for p in plan.pending} == {rewritten, appended, during}
    # Between planning and reading: one file is being rewritten in place (a share still being
    # written: a fifth of it so far), another gets lines appended.
    (landing.root / rewritten).write_bytes(full[: len(full) // 5])
    with (landing.root / appended).open("ab") as fh:
        fh.write(b"c2,2026-03-02T09:00:00Z,Chart opened\nc2,2026-03-02T09:01:00Z,Chart opened\n")
    # While it is read: the third changes between the reader's two passes over it.
    real_keys = rawcsv.pseudonym_keys

    def keys_then_append(*args, **kwargs):
        out = real_keys(*args, **kwargs)
        if "during" in str(args[2].get("path", "")):
            with (landing.root / during).open("ab") as fh:
                fh.write(b"c3,2026-03-02T09:00:00Z,Chart opened\n")
        return out

    monkeypatch.setattr(rawcsv, "pseudonym_keys", keys_then_append)
    results = [ingest_pending(p, ctx.lake, ctx.settings, ctx.key, plan.now) for p in plan.pending]
    report = record_ingest(ctx.lake, plan, results)
    monkeypatch.setattr(rawcsv, "pseudonym_keys", real_keys)
    # Nothing of the three was recorded: no manifest row describes bytes it did not read.
    assert ctx.lake.load_manifest() == [], ctx.lake.load_manifest()
    assert report.files_deferred == 3
    assert all("the next run reads it again" in m for m in report.messages), report.messages
    assert any(rewritten in m and "changed size" in m for m in report.messages)

    (landing.root / rewritten).write_bytes(full)  # the writer finishes: the planned bytes again
    pub = landing.run()
    for relative, rows in ((rewritten, 50), (appended, 7), (during, 5)):
        row = live_manifest(pub, relative)
        data = (landing.root / relative).read_bytes()
        assert (row["status"], row["rows_read"], row["rows_loaded"]) == ("ingested", rows, rows)
        assert row["content_sha256"] == hashlib.sha256(data).hexdigest()
        assert row["size_bytes"] == len(data)
    assert pub.day("c1", "2026-03-02")["events"] == 50
    assert_reconciles(pub)


@pytest.mark.parametrize(("case", "reason"), [
    # A quote opened on line 3 and never closed: the reader took the 4,998 lines after it as
    # one record (rows_read was 3 of a 5,001-line file).
    ("to the end", "quoted field opened on line 3 is never closed properly, so the reader took "
                   "the lines from there to the end of the file (line 5,001)"),
    # Closed by a quote six lines on: the rows in between were one rejected record.
    ("closed later", "quoted field opened on line 3 is never closed properly, so the reader took "
                     "the lines from there to line 9"),
])
def test_a_quote_that_swallows_lines_quarantines_the_file_naming_the_line(tmp_path, case, reason):
    """Issue 22, case 2: rows_read counted CSV records, not lines; rows never read hid."""
    lines = [f"c1,2026-03-02T08:{i % 60:02d}:00Z,Chart opened\n" for i in range(5000)]
    lines[1] = 'c1,2026-03-02T08:01:00Z,"Chart opened\n'          # line 3
    if case == "closed later":
        lines[7] = 'c1,2026-03-02T08:07:00Z,Chart "opened"\n'     # line 9
    path = tmp_path / "night.csv"
    path.write_bytes(("clinician_id,event_time,action\n" + "".join(lines)).encode())
    result, rows = _ingest(path)
    assert result["status"] == "quarantined", result
    [(line, text, _)] = rows
    assert line is None and reason in text, text


def test_every_physical_line_is_accounted_for_after_empty_lines_and_a_malformed_record(tmp_path):
    """Issue 22, case 2 (the same class): empty lines shifted the line numbers of every row
    after them, so quarantine rows named the wrong lines."""
    path = tmp_path / "night.csv"
    path.write_bytes(b"clinician_id,event_time,action\n"            # 1
                     b"c1,2026-03-02T14:00:00Z,Chart opened\n"      # 2
                     b"\n\n"                                        # 3, 4
                     b",2026-03-02T14:01:00Z,Chart opened\n"        # 5: missing clinician
                     b'c1,2026-03-02T14:02:00Z,"Chart\n\nopened"\n'  # 6-8: one record
                     b"c1,2026-03-02T14:03:00Z,Chart opened,x\n"    # 9: too many fields
                     b",2026-03-02T14:04:00Z,Chart opened\n"        # 10: missing clinician
                     b"c1,2026-03-02T14:05:00Z,Chart opened\n\n")   # 11, 12
    result, rows = _ingest(path)
    assert [(line, text.split(":")[0]) for line, text, _ in rows] == [
        (5, "missing clinician_id"), (9, "malformed CSV record (too many columns)"),
        (10, "missing clinician_id")]
    assert (result["rows_read"], result["rows_written"], result["rows_quarantined"]) == (6, 3, 3)
    with duckdb.connect() as con:
        lines = con.execute("select source_line from read_parquet($f) order by 1",
                            {"f": [str(p) for p in Lake(tmp_path / "warehouse").events_paths("e" * 64)]}
                            ).fetchall()
    assert [r[0] for r in lines] == [2, 6, 11]


def test_a_parquet_extract_whose_first_row_is_rejected_publishes(landing):
    """Issue 22, case 3: Parquet rows are numbered from 1, but the quarantine contract wanted
    source_line >= 2, so the run was refused, and every run after, even with the file gone."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = landing.root / "audit" / "canonical" / "night.parquet"
    path.parent.mkdir(parents=True)
    pq.write_table(pa.table({
        "clinician_id": [None, "c1", "c1"],
        "event_time": ["2026-03-02T14:00:00Z", "2026-03-02T14:01:00Z", "2026-03-02T14:03:00Z"],
        "action": ["chart", "chart", "chart"]}), path)
    pub = landing.run()
    assert quarantined(pub, "audit/canonical/night.parquet") == [(1, "missing clinician_id")]
    assert pub.day("c1", "2026-03-02")["events"] == 2
    assert_reconciles(pub)
    path.unlink()  # files that disappear keep their rows: the next run must publish too
    assert landing.run().day("c1", "2026-03-02")["events"] == 2


def test_the_quarantine_line_rule_is_per_file_type():
    """The rule that replaced `source_line >= 2`: CSV lines (header = 1) from 2, Parquet rows
    from 1, by the file's type."""
    from wow_metrics.contracts import load_contracts

    contract = load_contracts()["quarantine"]
    [check] = next(c for c in contract.columns if c.name == "source_line").checks
    assert check.min == 1
    [rule] = [i for i in contract.invariants if i.name == "quarantine_line_in_file_range"]
    with duckdb.connect() as con:
        con.execute("create table quarantine as select * from (values "
                    "('audit/canonical/a.csv', 1::BIGINT, 'x'), ('audit/canonical/b.csv', 2, 'x'), "
                    "('audit/canonical/c.parquet', 1, 'x'), ('audit/canonical/d.PARQUET', 0, 'x'), "
                    "('reference/roster.csv', 1, 'x'), ('audit/canonical/e.csv', null, 'x')) "
                    "t(source_file, source_line, reason)")
        bad = con.execute(rule.sql).fetchall()
    assert sorted(r[0] for r in bad) == ["audit/canonical/a.csv", "audit/canonical/d.PARQUET",
                                         "reference/roster.csv"]


def test_no_single_file_crashes_the_run_and_cr_and_mixed_line_ends_are_read(landing, monkeypatch):
    """Issue 22, case 4: a CR-only file crashed the run (a Python csv error), every night, and
    mixed CR LF / LF files (a roster appended with LF lines) were quarantined whole. Any reader
    error on one file now quarantines that file with its name and reason."""
    import csv as csv_module

    import wow_metrics.ingest.single as single

    write(landing, "audit/canonical/cr.csv", b"clinician_id,event_time,action\r"
                                             b"c1,2026-03-02T14:00:00Z,Chart opened\r"
                                             b",2026-03-02T14:01:00Z,Chart opened\r"
                                             b"c1,2026-03-02T14:03:00Z,Chart opened\r")
    write(landing, "audit/canonical/mixed.csv", b"clinician_id,event_time,action\r\n"
                                                b"c2,2026-03-02T14:00:00Z,Chart opened\r\n"
                                                b"c2,2026-03-02T14:01:00Z,Chart opened\n"
                                                b",2026-03-02T14:02:00Z,Chart opened\n"
                                                b"c2,2026-03-02T14:04:00Z,Chart opened\n")
    write(landing, "reference/roster.csv",
          b"clinician_id,department,specialty,role,clinical_fte,timezone\r\n"
          b"c1,Medicine,,,1.0,\r\n" b"c2,Surgery,,,1.0,\n")
    errors = {"boom-duckdb.csv": duckdb.ConversionException("Conversion Error: boom"),
              "boom-internal.csv": duckdb.InternalException("INTERNAL Error: boom"),
              "boom-python.csv": csv_module.Error("new-line character seen in unquoted field"),
              "boom-value.csv": ValueError("boom")}
    for i, name in enumerate(errors):
        write(landing, f"audit/canonical/{name}", _night(3, start_minute=i, clinician="c9"))
    real = single.stream_csv

    def reader(con, path, *args, **kwargs):
        if path.name in errors:
            raise errors[path.name]
        return real(con, path, *args, **kwargs)

    monkeypatch.setattr(single, "stream_csv", reader)
    # Read in one pass with others (ingest/batch.py), the same error makes the pass give way to
    # reading each file alone, where it quarantines only its own file.
    real_stage = batching._parse_together

    def stage(con, batch, *args, **kwargs):
        for p in batch:
            if Path(p.path).name in errors:
                raise errors[Path(p.path).name]
        return real_stage(con, batch, *args, **kwargs)

    monkeypatch.setattr(batching, "_parse_together", stage)
    pub = landing.run()
    assert quarantined(pub, "audit/canonical/cr.csv") == [(3, "missing clinician_id")]
    assert quarantined(pub, "audit/canonical/mixed.csv") == [(4, "missing clinician_id")]
    assert pub.day("c1", "2026-03-02")["events"] == 2
    assert pub.day("c2", "2026-03-02")["events"] == 3
    assert quarantined(pub, "reference/roster.csv") == []
    assert {r["clinician_id"]: r["department"] for r in pub.query(
        "select clinician_id, department from ehr_time_by_clinician_period")} == {
        "c1": "Medicine", "c2": "Surgery"}
    for name, exc in errors.items():
        [(line, reason)] = quarantined(pub, f"audit/canonical/{name}")
        assert line is None and type(exc).__name__ in reason and "unexpected error" in reason
        assert any(name in w for w in pub.summary.warnings)
    assert pub.day("c9", "2026-03-02") is None
    assert_reconciles(pub)


def test_the_reference_loader_never_crashes_and_reads_cr_and_mixed_line_ends(tmp_path,
                                                                            monkeypatch):
    """Issue 22, case 4 for load_csv (roster, schedule, holidays, action maps)."""
    import wow_metrics.ingest.rawcsv as rawcsv

    columns = ["clinician_id", "department"]
    cases = {"cr": b"clinician_id,department\rc1,Medicine\r\rc2,Surgery,extra\rc3,Surgery\r",
             "mixed": b"clinician_id,department\r\nc1,Medicine\r\n\nc2,Surgery,extra\nc3,Surgery\n"}
    with duckdb.connect() as con:
        from wow_metrics.sqlfiles import install_macros

        install_macros(con)
        for name, data in cases.items():
            path = tmp_path / f"{name}.csv"
            path.write_bytes(data)
            raw = rawcsv.load_csv(con, path, "_rows", columns, columns)
            assert (raw.rows_read, [line for line, _ in raw.rejects]) == (3, [4]), name
            assert con.execute("select source_line, clinician_id, department from _rows").fetchall() == [
                (2, "c1", "Medicine"), (5, "c3", "Surgery")], name
            con.execute("drop table _rows")
        path = tmp_path / "dup.csv"
        path.write_bytes(b"clinician_id,department,CLINICIAN_ID\nc1,Medicine,c2\n")
        with pytest.raises(rawcsv.UnreadableFile, match="more than once"):
            rawcsv.load_csv(con, path, "_rows", ["clinician_id", "department", "clinician_id"],
                            columns)
        monkeypatch.setattr(rawcsv, "census", lambda *a: 1 / 0)
        with pytest.raises(rawcsv.UnreadableFile, match="ZeroDivisionError|division"):
            rawcsv.load_csv(con, tmp_path / "cr.csv", "_rows", columns, columns)


def test_impossible_utc_offsets_are_unparseable_times(landing):
    """Issue 22, case 5: '+99:00' moved an instant by four days; offsets run from -12:00 to
    +14:00 with minutes under 60, in extracts and in schedule start times."""
    write(landing, NIGHT, b"clinician_id,event_time,action\n"
                          b"c1,2026-03-02T14:00:00+99:00,Chart opened\n"      # 2: fast path
                          b"c1,2026-03-02T14:00:00-99:59,Chart opened\n"      # 3
                          b"c1,2026-03-02T14:00:00+15:00,Chart opened\n"      # 4
                          b"c1,2026-03-02T14:00+1500,Chart opened\n"          # 5: full reading
                          b"c1,2026-03-02T14:00:00+12:60,Chart opened\n"      # 6
                          b"c1,2026-03-02T14:00:00.5-12:30,Chart opened\n"    # 7
                          b"c1,2026-03-03T04:00:00+14:00,Chart opened\n"      # 8: Kiribati
                          b"c1,2026-03-02T02:00:00-12:00,Chart opened\n"      # 9: Baker Island
                          b"c1,2026-03-02T19:45:00+05:45,Chart opened\n")     # 10: Nepal
    landing.schedule([
        {"clinician_id": "c1", "appointment_id": "A1", "start_time": "2026-03-02T09:00:00+15:00",
         "duration_minutes": "30", "status": "completed"},
        {"clinician_id": "c1", "appointment_id": "A2", "start_time": "2026-03-02T09:00:00-99:00",
         "duration_minutes": "30", "status": "completed"},
        {"clinician_id": "c1", "appointment_id": "A3", "start_time": "2026-03-02T09:00:00+01:00",
         "duration_minutes": "30", "status": "completed"}])
    landing.config(reference_check_severity="warning")  # 2 of 3 schedule rows rejected
    pub = landing.run()
    rows = quarantined(pub, NIGHT)
    assert [line for line, _ in rows] == [2, 3, 4, 5, 6, 7]
    assert all("UTC offset outside -12:00 to +14:00" in r for _, r in rows), rows
    assert [e["event_at"] for e in lake_events(landing)] == [utc(2026, 3, 2, 14, 0)] * 3
    schedule = quarantined(pub, "reference/schedule/schedule.csv")
    assert [line for line, _ in schedule] == [2, 3]
    assert all("UTC offset outside -12:00 to +14:00" in r for _, r in schedule), schedule
    assert pub.day("c1", "2026-03-02")["scheduled_minutes"] == 30.0
    assert_reconciles(pub)


def test_a_column_named_twice_quarantines_the_file(landing):
    """Issue 22, case 6: `action,action` or `clinician_id ... CLINICIAN_ID` used the last one."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    write(landing, "audit/canonical/twice.csv", b"clinician_id,event_time,action,action\n"
                                                b"c1,2026-03-02T14:00:00Z,Chart opened,Other\n")
    write(landing, "audit/epic_access_log/case.csv",
          b"USER_ID,ACCESS_INSTANT,METRIC_NAME,user_id\n"
          b"u1,2026-03-02 14:00:00,Notes viewed,ZPAT-1\n")
    path = landing.root / "audit" / "canonical" / "case.parquet"
    pq.write_table(pa.table({"clinician_id": ["c1"], "event_time": ["2026-03-02T14:00:00Z"],
                             "action": ["a"], "CLINICIAN_ID": ["c2"]}), path)
    write(landing, "audit/canonical/good.csv", _night(2))
    write(landing, "reference/roster.csv", b"clinician_id,department,CLINICIAN_ID\nc1,Medicine,c2\n")
    landing.config(reference_check_severity="warning")  # a roster quarantined whole is refused
    pub = landing.run()
    for relative, names in (("audit/canonical/twice.csv", "action, action"),
                            ("audit/epic_access_log/case.csv", "USER_ID, user_id"),
                            ("audit/canonical/case.parquet", "clinician_id, CLINICIAN_ID")):
        [(line, reason)] = quarantined(pub, relative)
        assert line is None and f"named more than once in the header ({names}" in reason, reason
        assert "ZPAT-1" not in reason
    [(line, reason)] = quarantined(pub, "reference/roster.csv")
    assert line is None and "more than once" in reason
    assert pub.day("c1", "2026-03-02")["events"] == 2
    assert_reconciles(pub)


def test_ids_with_control_characters_or_too_long_are_quarantined_without_echo(tmp_path):
    """Issue 22, case 7: a NUL byte or a 10,000-character id made a phantom clinician whose id
    the run summary printed. Ids are at most 128 characters, action and report name 256, and
    none may hold a control character; the reason never shows the value."""
    long_id = "D" * 10_000
    path = tmp_path / "night.csv"
    path.write_bytes(
        b"clinician_id,event_time,action,patient_id,workstation_id\n"
        b"c1,2026-03-02T14:00:00Z,Chart opened,ZPAT-1,WS1\n"               # 2: good
        b"c1\x00x,2026-03-02T14:01:00Z,Chart opened,ZPAT-1,WS1\n"          # 3
        + long_id.encode() + b",2026-03-02T14:02:00Z,Chart opened,ZPAT-1,WS1\n"  # 4
        b"c1,2026-03-02T14:03:00Z,Chart opened,ZPAT\x07-2,WS1\n"           # 5: patient id
        b"c1,2026-03-02T14:04:00Z,Chart opened,ZPAT-1," + b"W" * 129 + b"\n"  # 6: workstation
        b"c1,2026-03-02T14:05:00Z,Chart\x1b[2Jopened,ZPAT-1,WS1\n"         # 7: action
        b"c1,2026-03-02T14:0\x006:00Z,Chart opened,ZPAT-1,WS1\n"           # 8: time
        b"c1,2026-03-02T14:07:00Z,Chart opened,ZPAT-1,WS1\n")              # 9: good
    result, rows = _ingest(path)
    assert (result["rows_read"], result["rows_written"], result["rows_quarantined"]) == (8, 2, 6)
    assert rows == [
        (3, "clinician_id contains a control character (U+0000)", None),
        (4, "clinician_id has 10000 characters (at most 128)", None),
        (5, "patient_id contains a control character (U+0007)", "c1"),
        (6, "workstation_id has 129 characters (at most 128)", "c1"),
        (7, "action contains a control character (U+001B)", "c1"),
        (8, 'unparseable event_time (value "9999-99-99A99:9?9:99A")', "c1")]
    assert "ZPAT" not in repr(rows) and "\x00" not in repr(rows) and "DDDD" not in repr(rows)


def test_a_record_with_a_hundred_thousand_fields_is_cut_out_before_the_csv_reader(tmp_path):
    """Issue 22, case 8: DuckDB's cost for a record with too many fields grows with the square
    of the surplus (100,000 fields: 63 s and 3.2 GB). A line with more fields than the header's
    plus 1,024 is left out of what DuckDB reads and quarantined; the rest of the file loads."""
    path = tmp_path / "night.csv"
    path.write_bytes(b"clinician_id,event_time,action\n"
                     b"c1,2026-03-02T14:00:00Z,Chart opened\n"
                     b"c1,2026-03-02T14:01:00Z," + b",".join([b"x"] * 100_000) + b"\n"
                     b"c1,2026-03-02T14:03:00Z,Chart opened,one too many\n"
                     b"c1,2026-03-02T14:04:00Z,Chart opened\n")
    result, rows = _ingest(path)
    assert (result["rows_read"], result["rows_written"], result["rows_quarantined"]) == (4, 2, 2)
    assert [(line, reason.split(":")[0]) for line, reason, _ in rows] == [
        (3, "malformed CSV record (too many columns)"), (4, "malformed CSV record (too many columns)")]
    assert "100,002 fields on one line, more than the 1,027 read" in rows[0][1]


def test_links_out_of_the_landing_zone_are_never_followed_and_every_path_is_recorded(
        landing, tmp_path):
    """Issue 22, case 9: links in audit/ were followed out of the landing zone (a run read
    system files), and a dangling link got no manifest row."""
    outside = tmp_path / "elsewhere" / "secret.csv"
    outside.parent.mkdir()
    outside.write_bytes(_night(3, clinician="SECRET"))
    write(landing, "audit/canonical/real.csv", _night(2))
    folder = landing.root / "audit" / "canonical"
    (folder / "outside.csv").symlink_to(outside)
    (folder / "outside-folder").symlink_to(outside.parent, target_is_directory=True)
    (folder / "dangling.csv").symlink_to(tmp_path / "gone.csv")
    (folder / "inside.csv").symlink_to(folder / "real.csv")  # inside the landing zone: followed
    os.mkfifo(folder / "pipe.csv")
    write(landing, "audit/stray.csv", _night(1, clinician="STRAY"))  # not in a format folder
    pub = landing.run()
    statuses = {r["file_path"]: (r["status"], r["format"]) for r in pub.query(
        "select * from ingest_manifest where file_kind = 'audit_extract'")}
    assert statuses == {
        # inside.csv comes first in path order: the link is read, real.csv is its copy
        "audit/canonical/inside.csv": ("ingested", "canonical"),
        "audit/canonical/real.csv": ("duplicate_content", "canonical"),
        "audit/canonical/outside.csv": ("quarantined", None),
        "audit/canonical/outside-folder": ("quarantined", None),
        "audit/canonical/dangling.csv": ("quarantined", None),
        "audit/canonical/pipe.csv": ("quarantined", None),
        "audit/stray.csv": ("quarantined", None)}
    reasons = {path: quarantined(pub, path)[0][1] for path, (status, _) in statuses.items()
               if status == "quarantined"}
    assert "outside the landing zone: not followed" in reasons["audit/canonical/outside.csv"]
    assert "outside the landing zone: not followed" in reasons["audit/canonical/outside-folder"]
    assert "does not exist" in reasons["audit/canonical/dangling.csv"]
    assert "a named pipe, not a regular file" in reasons["audit/canonical/pipe.csv"]
    assert "not in a format folder" in reasons["audit/stray.csv"]
    assert {e["clinician_id"] for e in lake_events(landing)} == {"c1"}
    assert pub.day("SECRET", "2026-03-02") is None
    assert_reconciles(pub)
    again = landing.run()  # recorded once: the next run has nothing new
    assert again.summary.ingest.files_ingested == again.summary.ingest.files_quarantined == 0


@pytest.mark.parametrize("small", [True, False])
def test_paths_with_a_quote_are_bound_not_pasted_into_sql(tmp_path, monkeypatch, small):
    """Issue 22, case 10: a landing or warehouse path holding ' crashed every run."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    import wow_metrics.ingest.stream as stream

    if not small:
        monkeypatch.setattr(stream, "SMALL_EXTRACT_BYTES", 0)
    folder = tmp_path / "o'brien's landing"
    folder.mkdir()
    warehouse = tmp_path / "wh 'quoted'"
    clean = folder / "clean.csv"
    clean.write_bytes(_night(3))
    bad = folder / "bad.csv"  # a malformed record: the careful reading, its census and pipe
    bad.write_bytes(_night(3) + b"c1,2026-03-02T09:00:00Z,a,b\n"
                    b"c1,2026-03-02T09:01:00Z,Chart opened\r\n")
    parquet = folder / "night.parquet"
    pq.write_table(pa.table({"clinician_id": ["c1", None], "event_time": ["2026-03-02T14:00:00Z"] * 2,
                             "action": ["a", "a"]}), parquet)
    for path, expected in ((clean, (3, 3, 0)), (bad, (5, 4, 1)), (parquet, (2, 1, 1))):
        result, rows = _ingest(path, f"audit/canonical/{path.name}", warehouse / path.stem)
        assert result["status"] == "ingested", result
        assert (result["rows_read"], result["rows_written"], result["rows_quarantined"]) == expected
        assert len(rows) == expected[2]
