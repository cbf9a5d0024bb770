"""One pass per format (issue 23): extracts read together write exactly the lake that reading
each alone writes (events, extents, quarantine and figures, file by file), and what one pass
cannot take is read alone."""

from __future__ import annotations

import datetime as dt
import gzip
import logging
from pathlib import Path

import duckdb
import pytest
from conftest import Landing

from wow_metrics import ingest
from wow_metrics.config import load_settings
from wow_metrics.ingest import batch as batching
from wow_metrics.ingest import rawcsv
from wow_metrics.lake import Lake

NOW = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
TEST_KEY = b"test-only-pseudonym-key-not-a-secret-5f1c9e7a2b4d8036"  # tests/conftest.py's key
COLUMNS = ["clinician_id", "event_time", "action", "category", "patient_id", "workstation_id"]


def _rows(day: int, clinicians: int, per: int, bad_every: int = 0) -> list[dict]:
    rows = []
    for c in range(clinicians):
        for i in range(per):
            n = c * per + i
            rows.append({"clinician_id": f"C{c:03d}",
                         "event_time": f"2026-03-{day:02d}T{8 + i % 12:02d}:{n % 60:02d}:07",
                         "action": "Chart opened" if i % 3 else "In Basket message viewed",
                         "category": "", "patient_id": f"P{(n * 7) % 50:04d}",
                         "workstation_id": f"WS-{c}"})
            if bad_every and n % bad_every == 0:
                rows[-1]["event_time"] = "not a time"
    return rows


def _zone(root: Path, broken: bool = False) -> Landing:
    """A night of canonical extracts with everything one pass must keep apart: rows to
    quarantine, a file of a header only, a file with a record over two lines (read alone),
    gzip beside plain files, and files of another format; `broken`: and a file that does not
    read strictly (its batch is read file by file)."""
    zone = Landing(root / "landing", root / "warehouse")
    for day in range(1, 7):
        zone.canonical(_rows(day, clinicians=4, per=15, bad_every=13 if day % 2 else 0),
                       name=f"events_2026-03-{day:02d}.csv", columns=COLUMNS)
    zone.canonical([], name="events_empty.csv", columns=COLUMNS)
    # Values no format can hold (a control character, an over-long id) in one file of the
    # pass: the whole pass is then parsed again with the row-by-row checks (has_bad_values).
    valued = _rows(13, clinicians=2, per=6)
    valued[2]["workstation_id"] = "WS\x01B"
    valued[4]["clinician_id"] = "C" * 200
    valued[7]["action"] = "Chart opened " + "x" * 300
    zone.canonical(valued, name="events_2026-03-13.csv", columns=COLUMNS)
    multiline = zone.canonical(_rows(7, 2, 5), name="events_multiline.csv", columns=COLUMNS)
    text = multiline.read_bytes().split(b"\r\n")  # (the csv module ends lines with CR LF)
    text[3] = text[3].replace(b"Chart opened", b'"Chart\r\nopened"')
    multiline.write_bytes(b"\r\n".join(text))
    if broken:
        bad = zone.canonical(_rows(8, 2, 5), name="events_broken.csv", columns=COLUMNS)
        with bad.open("ab") as fh:
            fh.write(b'C001,2026-03-08T09:00:00,"never closed,x,P1,WS\r\n'
                     b"C001,2026-03-08T09:01:00,Chart opened,,P1,WS,extra,fields\r\n")
    for day in (9, 10):
        plain = zone.canonical(_rows(day, 3, 10), name=f"gz_{day}.csv", columns=COLUMNS)
        # mtime 0: the gzip header holds the time it was written, and the two zones' files
        # must be the same bytes (one content hash) however far apart they are written.
        plain.with_suffix(".csv.gz").write_bytes(gzip.compress(plain.read_bytes(), mtime=0))
        plain.unlink()
    for day in (11, 12):
        zone.epic([{"USER_ID": f"C00{i}", "ACCESS_INSTANT": f"2026-03-{day}T1{i}:00:00Z",
                    "ACCESS_TIME": "", "METRIC_NAME": "Chart opened", "PAT_ID": f"P{i}"}
                   for i in range(4)], name=f"access_{day}.csv")
    return zone


def _ingest(zone: Landing, together: bool) -> dict[str, dict]:
    settings = load_settings(zone.root)
    lake = Lake(zone.warehouse)
    plan = ingest.plan_ingest(zone.root, lake, settings, TEST_KEY, "test", now=NOW)
    batches = (batching.plan_batches(plan.pending, settings, ingest.SMALL_EXTRACT_BYTES)
               if together else [[p] for p in plan.pending])
    figures = {}
    for group in batches:
        for p, row in zip(group, ingest.ingest_batch(group, lake, settings, TEST_KEY, NOW),
                          strict=True):
            figures[p.relative] = row
    return figures


def _lake(warehouse: Path) -> dict[str, list]:
    """Every lake file's rows, by its path under lake/ (events, extents, quarantine), in
    order (the order a partitioned write leaves them in is not a guarantee)."""
    out = {}
    with duckdb.connect() as con:
        con.execute("set TimeZone = 'UTC'")
        for path in sorted((warehouse / "lake").rglob("*.parquet")):
            out[path.relative_to(warehouse / "lake").as_posix()] = con.execute(
                "select * from read_parquet($p) order by all", {"p": str(path)}).fetchall()
    return out


@pytest.mark.parametrize("broken", [False, True])
def test_one_pass_writes_the_lake_that_reading_each_file_alone_writes(
        tmp_path: Path, caplog, broken: bool) -> None:
    alone = _zone(tmp_path / "alone", broken)
    together = _zone(tmp_path / "together", broken)
    settings = load_settings(together.root)
    plan = ingest.plan_ingest(together.root, Lake(tmp_path / "probe"), settings, TEST_KEY, "t",
                              now=NOW)
    sizes = sorted(len(b) for b in batching.plan_batches(plan.pending, settings,
                                                         ingest.SMALL_EXTRACT_BYTES))
    # The plain canonical files in one pass, the two gzip ones in another, Epic's two in a
    # third (the empty one holds a header only: same shape).
    assert sizes == [2, 2, 9 + broken]

    with caplog.at_level(logging.INFO, logger="wow_metrics.ingest.batch"):
        assert _ingest(together, together=True) == _ingest(alone, together=False)
    # Every batch was read in one pass (only the file with a record over two lines alone),
    # except, with the broken file, the batch it is in.
    assert caplog.text.count("read one by one") == broken
    assert _lake(together.warehouse) == _lake(alone.warehouse)
    quarantined = _lake(together.warehouse)
    lines = {name: [r[1] for r in rows] for name, rows in quarantined.items()
             if name.startswith("quarantine/")}
    # Day 1 has bad times on rows 1, 14, 27, 40, 53 of the file (lines 2, 15, ...).
    assert [2, 15, 28, 41, 54] in lines.values()
    assert [4, 6, 9] in lines.values()  # the day-13 file's three bad values, in the one pass


def test_the_line_of_every_row_read_together_is_its_line_in_its_file(
        tmp_path: Path, monkeypatch) -> None:
    zone = Landing(tmp_path / "landing", tmp_path / "warehouse")
    # Files of different lengths: a line numbering that ran on across files, or restarted at
    # the wrong row, puts a row on another line. The longest spans many of DuckDB's CSV
    # buffers (made small here), which its threads could read in any order: the pass keeps no
    # insertion order, so each file's numbering must follow the file by itself.
    monkeypatch.setattr(rawcsv, "CSV_BUFFER_BYTES", 16 << 10)
    lengths = (1, 40, 7, 6000, 2)
    for n, per in enumerate(lengths):
        zone.canonical(_rows(n + 1, 1, per), name=f"f{n}.csv", columns=COLUMNS)
    assert (zone.root / "audit" / "canonical" / "f3.csv").stat().st_size > 16 * (16 << 10)
    figures = _ingest(zone, together=True)
    assert [f["rows_written"] for f in figures.values()] == list(lengths)
    with duckdb.connect() as con:
        con.execute("set TimeZone = 'UTC'")
        found = con.execute(
            "select source_file, source_line, action, strftime(event_at, '%H:%M') "
            "from read_parquet($p) order by source_file, source_line",
            {"p": str(zone.warehouse / "lake" / "events" / "*" / "*.parquet")}).fetchall()
    expected = []
    for n, per in enumerate(lengths):
        for line, row in enumerate(_rows(n + 1, 1, per), start=2):
            expected.append((f"audit/canonical/f{n}.csv", line, row["action"]))
    assert [r[:3] for r in found] == expected
    # Each row's own time (minutes run 0-59 down the file) is the one on its line.
    assert [r[3][3:] for r in found] == [row["event_time"][14:16] for n, per in
                                         enumerate(lengths) for row in _rows(n + 1, 1, per)]


def test_a_batch_that_does_not_read_strictly_is_read_file_by_file(tmp_path: Path, caplog) -> None:
    zone = _zone(tmp_path, broken=True)
    with caplog.at_level(logging.INFO, logger="wow_metrics.ingest.batch"):
        figures = _ingest(zone, together=True)
    assert "read one by one" in caplog.text
    broken = figures["audit/canonical/events_broken.csv"]
    assert broken["status"] == "quarantined"
    assert "unterminated quote" in broken["message"]
    multiline = figures["audit/canonical/events_multiline.csv"]
    assert (multiline["rows_read"], multiline["rows_written"]) == (10, 10)


@pytest.mark.parametrize("together", [True, False])
@pytest.mark.parametrize("name", ["ev[1].csv", "ev*.csv", "ev?.csv", "ev[1].csv.gz"])
def test_a_file_named_like_a_pattern_is_read_as_itself(tmp_path: Path, name: str,
                                                        together: bool) -> None:
    # DuckDB's readers expand *, ? and [..]: ev[1].csv read as a pattern is ev1.csv.
    zone = Landing(tmp_path / "landing", tmp_path / "warehouse")
    path = zone.canonical(_rows(1, 1, 3), name=name.removesuffix(".gz"), columns=COLUMNS)
    if name.endswith(".gz"):
        with gzip.open(path.with_name(name), "wb") as fh:
            fh.write(path.read_bytes())
        path.unlink()
    zone.canonical(_rows(2, 1, 4), name="ev1.csv", columns=COLUMNS)
    zone.canonical(_rows(3, 1, 5), name="evX.csv", columns=COLUMNS)
    figures = _ingest(zone, together=together)
    assert figures[f"audit/canonical/{name}"]["rows_written"] == 3
    assert figures["audit/canonical/ev1.csv"]["rows_written"] == 4
    assert figures["audit/canonical/evX.csv"]["rows_written"] == 5


def test_batches_keep_within_their_share_of_memory_limit(tmp_path: Path) -> None:
    zone = Landing(tmp_path / "landing", tmp_path / "warehouse")
    for n in range(6):
        zone.canonical(_rows(n + 1, 2, 200), name=f"f{n}.csv", columns=COLUMNS)
    size = (zone.root / "audit" / "canonical" / "f0.csv").stat().st_size

    def sizes(**config) -> list[int]:
        zone.config(**config)
        settings = load_settings(zone.root)
        plan = ingest.plan_ingest(zone.root, Lake(zone.warehouse), settings, TEST_KEY, "t",
                                  now=NOW)
        return [len(b) for b in batching.plan_batches(plan.pending, settings,
                                                      ingest.SMALL_EXTRACT_BYTES)]

    assert sizes() == [6]
    # A third of the limit a pass; of it a quarter for the files' bytes: two files' worth.
    assert sizes(memory_limit=f"{(size * 2 * 4 + 100) * 3}B") == [2, 2, 2]
    # 16 MiB a file read at once: a third of 1 GB (10^9 bytes) holds 19 files, of 200 MB 3.
    assert batching.batch_limits(load_settings(zone.root).model_copy(
        update={"memory_limit": "1GB"}))[1] == 19
    assert batching.batch_limits(load_settings(zone.root).model_copy(
        update={"memory_limit": "200MB"}))[1] == 3
