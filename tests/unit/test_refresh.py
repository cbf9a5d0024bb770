"""--full-refresh rebuilds from the lake, the system of record (issue 22): extracts already
purged from the landing zone keep their rows. Re-reading the landing zone is --reingest, and
dropping what it no longer has is a separate, named choice that lists what it drops."""

from __future__ import annotations

import pytest

from wow_metrics.ingest import LakeMismatch
from wow_metrics.pipeline import PurgedExtracts


def ev(cid: str, when: str) -> dict:
    return {"clinician_id": cid, "event_time": when, "action": "Chart opened"}


@pytest.fixture
def two_nights(landing):
    """Two nightly extracts ingested; the first then purged from the share, as shares do."""
    first = landing.canonical([ev("c1", "2026-03-02T14:00:00Z"), ev("c1", "2026-03-02T14:04:00Z")],
                              name="night_0302.csv")
    landing.canonical([ev("c1", "2026-03-03T14:00:00Z"), ev("c1", "2026-03-03T14:02:00Z")],
                      name="night_0303.csv")
    pub = landing.run()
    assert pub.day("c1", "2026-03-02")["ehr_minutes"] == 4.0
    first.unlink()
    return landing


def test_full_refresh_rebuilds_from_the_lake_and_keeps_purged_extracts(two_nights):
    from conftest import Published

    from wow_metrics.pipeline import run

    summary = run(two_nights.root, two_nights.warehouse, full_refresh=True)
    pub = Published(two_nights.warehouse, summary)
    assert summary.build.startswith("full refresh requested")
    assert summary.ingest.files_ingested == 0
    assert pub.day("c1", "2026-03-02")["ehr_minutes"] == 4.0  # purged, still measured
    assert pub.day("c1", "2026-03-03")["ehr_minutes"] == 2.0


def test_reingest_refuses_to_drop_purged_extracts_and_names_them(two_nights, capsys):
    from wow_metrics.cli import main

    db = two_nights.warehouse / "wow.duckdb"
    manifest = two_nights.warehouse / "lake" / "manifest.parquet"
    before = (db.read_bytes(), manifest.read_bytes())
    code = main(["run", "--landing", str(two_nights.root), "--warehouse",
                 str(two_nights.warehouse), "--reingest"])
    err = capsys.readouterr().err
    assert code == 2
    assert "--reingest would drop 1 extract(s)" in err
    assert "audit/canonical/night_0302.csv" in err and "night_0303" not in err
    assert "--drop-purged-extracts" in err and "Nothing was changed" in err
    assert (db.read_bytes(), manifest.read_bytes()) == before


def test_reingest_with_drop_purged_extracts_drops_them(two_nights):
    from conftest import Published

    from wow_metrics.pipeline import run

    with pytest.raises(PurgedExtracts):
        run(two_nights.root, two_nights.warehouse, reingest=True)
    summary = run(two_nights.root, two_nights.warehouse, reingest=True, drop_purged=True)
    pub = Published(two_nights.warehouse, summary)
    assert summary.build.startswith("re-ingest requested")
    assert summary.ingest.files_ingested == 1
    assert pub.day("c1", "2026-03-02") is None
    assert pub.day("c1", "2026-03-03")["ehr_minutes"] == 2.0


def test_reingest_reads_the_landing_zone_under_a_new_setting(landing):
    landing.canonical([ev("c1", "2026-03-02T09:00:00"), ev("c1", "2026-03-02T09:03:00")])
    landing.run()  # naive times read as UTC (the default zone)
    landing.config(default_timezone="America/New_York")
    with pytest.raises(LakeMismatch, match="--reingest"):
        landing.run()
    from wow_metrics.pipeline import run

    summary = run(landing.root, landing.warehouse, reingest=True)
    assert summary.ingest.files_ingested == 1


def test_drop_purged_extracts_needs_reingest(landing, capsys):
    from wow_metrics.cli import main

    landing.canonical([ev("c1", "2026-03-02T09:00:00Z")])
    code = main(["run", "--landing", str(landing.root), "--warehouse", str(landing.warehouse),
                 "--drop-purged-extracts"])
    assert code == 2 and "only for --reingest" in capsys.readouterr().err
    assert not (landing.warehouse / "wow.duckdb").exists()
