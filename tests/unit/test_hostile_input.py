"""Hostile extracts: each ends in a clear message (file, line, reason), a quarantine record and a
reconciled manifest (SPEC 9), or is read correctly. Fuzzed readers never crash or lose a row."""

from __future__ import annotations

import datetime as dt
import gzip
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
from wow_metrics.ingest.formats import registry
from wow_metrics.lake import Lake
from wow_metrics.pseudonym import pseudonymize

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
    assert {e["patient_key"] for e in events} == {pseudonymize(TEST_KEY, "ZPAT-1")}
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
            "count(*) filter (where patient_key like 'ZPAT%') from read_parquet($f)",
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
    import wow_metrics.ingest as ingest

    path = tmp_path / "night.csv"
    path.write_bytes(content)
    results = []
    for threshold in (ingest.SMALL_EXTRACT_BYTES, 0):
        monkeypatch.setattr(ingest, "SMALL_EXTRACT_BYTES", threshold)
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
              "not_before": dt.datetime(1, 1, 1, tzinfo=dt.UTC)}
    assert NOT_BEFORE > params["not_before"]
    con = _connect()
    try:
        con.execute("create temp table raw_events as select range + 2 as source_line, "
                    "'c1' as clinician_id, 'Chart opened' as action, "
                    + ", ".join(f"null::VARCHAR as {c}" for c in (
                        "report_name", "category", "patient_key", "encounter_key", "workstation_id",
                        "metric_id", "process_id", "time_2"))
                    + ", $texts[range + 1] as time_1 from range(len($texts))", {"texts": texts})
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
