"""Extract formats declared in YAML: the built-ins, the shipped example layout, a site's own."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import REPO_ROOT, SITE_FORMAT
from test_ingest import assert_reconciles, counts, lake_events, live_manifest, manifest, quarantined

from wow_metrics.ingest.formats import FormatError, load_declaration, registry

EXAMPLE_LANDING = REPO_ROOT / "data" / "examples" / "example_ward_audit"
EXAMPLE_FILE = "audit/example_ward_audit/2026/03/ward_audit_2026-03-02.txt"


def test_shipped_declarations_load_and_name_their_roles():
    reg = registry()
    assert reg.broken == {} and reg.warnings == []
    assert reg.names() == ["canonical", "epic_access_log", "example_ward_audit"]
    epic = reg.get("epic_access_log")
    assert epic.label == "built-in"
    assert epic.role_columns["clinician_id"] == "USER_ID"
    assert epic.role_columns["encounter_id"] == "CSN"
    assert epic.event_time == (("ACCESS_INSTANT", "utc_instant"), ("ACCESS_TIME", "local_wall_clock"))
    example = reg.get("example_ward_audit")
    assert example.label == "example layout"
    assert (example.delimiters, example.encoding) == (("|",), "latin-1")


# ---------------------------------------------------------------------------------------------
# The shipped example layout, from its YAML and action map alone
# ---------------------------------------------------------------------------------------------

def test_example_layout_gives_hand_computed_minutes(landing):
    shutil.copytree(EXAMPLE_LANDING, landing.root, dirs_exist_ok=True)
    pub = landing.run()

    # EX1001 on Monday 2026-03-02, America/Chicago (UTC-6), appointment 09:00-10:00:
    # 06:50 inbox -> 06:54 (4 min), 06:54 -> 07:02 idle, 07:02 notes -> 09:10 idle (the 07:05
    # "Print Batch Job" is excluded before the timeline), 09:10 order -> 09:14 (4), 09:14
    # prescription -> 09:15 (1), idle until 20:00 inbox -> 20:04 (4, an "%m/%d/%Y %H:%M" time),
    # 20:04 -> 20:10 idle (20:10 is 2026-03-03T02:10:00Z, an ISO instant).
    day = pub.day("EX1001", "2026-03-02")
    assert {k: day[k] for k in (
        "events", "appointments", "scheduled_minutes", "ehr_minutes", "inbox_minutes",
        "notes_minutes", "orders_minutes", "chart_review_minutes", "prescriptions_minutes",
        "in_schedule_minutes", "wow_minutes", "pajama_minutes", "outside_schedule_window_minutes",
    )} == {
        "events": 9, "appointments": 1, "scheduled_minutes": 60.0, "ehr_minutes": 13.0,
        "inbox_minutes": 8.0, "notes_minutes": 0.0, "orders_minutes": 5.0,
        "chart_review_minutes": 0.0, "prescriptions_minutes": 1.0, "in_schedule_minutes": 5.0,
        "wow_minutes": 8.0, "pajama_minutes": 8.0, "outside_schedule_window_minutes": 8.0,
    }
    # " EX1002 " (spaces around the id) is EX1002: 13:00 chart -> 13:03 inbox, in schedule.
    day2 = pub.day("EX1002", "2026-03-02")
    assert (day2["events"], day2["ehr_minutes"], day2["chart_review_minutes"],
            day2["wow_minutes"]) == (2, 3.0, 3.0, 0.0)
    assert pub.query("select count(*) as n from ehr_time_by_clinician_day "
                     "where clinician_id <> trim(clinician_id)")[0]["n"] == 0

    # The Latin-1 workstation name is read as text; CRLF line ends leave no stray "\r".
    stations = {e["workstation_id"] for e in lake_events(landing)}
    assert "Pavillon-Été-3" in stations and not any("\r" in s for s in stations)

    lines = quarantined(pub, EXAMPLE_FILE)
    assert [line for line, _ in lines] == [14, 15]
    assert lines[0][1] == "missing ActivityDateTime"
    assert lines[1][1] == 'unparseable ActivityDateTime (value "AAAAAAAAA AAAA")'
    assert counts(live_manifest(pub, EXAMPLE_FILE)) == {
        "rows_read": 14, "rows_loaded": 11, "rows_quarantined": 2, "rows_duplicate": 0,
        "rows_excluded": 1}
    assert_reconciles(pub)


# ---------------------------------------------------------------------------------------------
# A site's own format: <landing>/formats/<name>.yml and action-map rows, no code
# ---------------------------------------------------------------------------------------------

def _site_landing(landing, declaration: str = SITE_FORMAT) -> str:
    (landing.root / "formats").mkdir(parents=True, exist_ok=True)
    (landing.root / "formats" / "acme_audit.yml").write_text(declaration)
    ref = landing.root / "reference"
    ref.mkdir(parents=True, exist_ok=True)
    (ref / "category_map.csv").write_text(
        "format,action,report_name,category,is_prescription\n"
        "acme_audit,MSG_OPEN,,inbox,false\n"
        "acme_audit,NOTE_EDIT,,notes,false\n")
    relative = "audit/acme_audit/2026-03-02.txt"
    path = landing.root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "Operator\tWhenUTC\tEvent\tPatientRef\n"
        "d7\t02.03.2026 14:00:00\tMSG_OPEN\tACME-P-1\n"
        "d7\t02.03.2026 14:02:30\tNOTE_EDIT\tACME-P-1\n"
        "d7\t02.03.2026 14:04:00\tMSG_OPEN\tACME-P-2\n")
    return relative


def test_site_format_from_yaml_in_the_landing_zone(landing):
    relative = _site_landing(landing)
    pub = landing.run()
    day = pub.day("d7", "2026-03-02")
    assert (day["events"], day["ehr_minutes"], day["inbox_minutes"], day["notes_minutes"]) == (
        3, 4.0, 2.5, 1.5)
    assert live_manifest(pub, relative)["format"] == "acme_audit"
    assert quarantined(pub, relative) == []
    assert_reconciles(pub)


def test_broken_site_declaration_quarantines_its_files_and_fixing_it_reads_them(landing):
    relative = _site_landing(landing, SITE_FORMAT.replace("clinician_id: Operator", "clinician: Operator"))
    landing.canonical([{"clinician_id": "c1", "event_time": "2026-03-02T14:00:00Z",
                        "action": "Chart opened"},
                       {"clinician_id": "c1", "event_time": "2026-03-02T14:02:00Z",
                        "action": "Chart opened"}])
    pub = landing.run()
    rows = quarantined(pub, relative)
    assert len(rows) == 1 and rows[0][0] is None
    assert "acme_audit.yml" in rows[0][1] and "clinician" in rows[0][1], rows[0][1]
    assert pub.day("c1", "2026-03-02")["ehr_minutes"] == 2.0  # the run went on
    assert pub.day("d7", "2026-03-02") is None

    # The site fixes its YAML: the same file (same content) is read again, and counted once.
    (landing.root / "formats" / "acme_audit.yml").write_text(SITE_FORMAT)
    pub = landing.run()
    assert pub.day("d7", "2026-03-02")["ehr_minutes"] == 4.0
    assert [r["status"] for r in manifest(pub, relative)] == ["superseded", "ingested"]
    assert quarantined(pub, relative) == []
    assert_reconciles(pub)


def test_site_declaration_cannot_shadow_a_built_in_format(landing):
    (landing.root / "formats").mkdir(parents=True)
    (landing.root / "formats" / "canonical.yml").write_text(SITE_FORMAT.replace("acme_audit", "canonical"))
    reg = registry(landing.root)
    assert reg.get("canonical").source.endswith("schemas/formats/canonical.yml")
    assert any("ignored" in w and "canonical" in w for w in reg.warnings)


@pytest.mark.parametrize(("change", "message"), [
    (("clinician_id: Operator", "operator: Operator"), "unknown role"),
    (("  action: Event\n", ""), "action"),
    (('["%d.%m.%Y %H:%M:%S"]', '["%d.%m.%Y %H:%M:%S %z"]'), "offsets"),
    (("kind: utc_instant", "kind: server_time"), "utc_instant"),
    (("name: acme_audit", "name: other_name"), "must match the file name"),
    (('delimiters: ["\\t"]', 'delimiters: ["ab"]'), "one character"),
    (("  patient_id: PatientRef", "  patient_id: Operator"), "more than one role"),
])
def test_invalid_declaration_is_refused_naming_file_and_problem(tmp_path: Path, change, message):
    path = tmp_path / "acme_audit.yml"
    path.write_text(SITE_FORMAT.replace(*change))
    with pytest.raises(FormatError, match=message) as info:
        load_declaration(path)
    assert str(path) in str(info.value)


def test_site_format_in_utf16_with_a_bom_is_read(landing):
    relative = _site_landing(landing, SITE_FORMAT.replace('delimiters: ["\\t"]',
                                                          'delimiters: ["\\t"]\nencoding: utf-16'))
    path = landing.root / relative
    path.write_bytes(path.read_text().replace("d7", "dé7").encode("utf-16"))  # BOM + UTF-16-LE
    pub = landing.run()
    assert quarantined(pub, relative) == []
    assert pub.day("dé7", "2026-03-02")["ehr_minutes"] == 4.0
    assert_reconciles(pub)


def test_a_declaration_that_breaks_a_read_file_quarantines_it_and_drops_its_rows(landing):
    relative = _site_landing(landing)
    pub = landing.run()
    assert pub.day("d7", "2026-03-02")["ehr_minutes"] == 4.0

    # The site renames the user column in its YAML, but its files still say Operator.
    (landing.root / "formats" / "acme_audit.yml").write_text(
        SITE_FORMAT.replace("clinician_id: Operator", "clinician_id: UserName"))
    pub = landing.run()
    [(line, reason)] = quarantined(pub, relative)
    assert line is None and "UserName" in reason
    assert pub.day("d7", "2026-03-02") is None
    assert [e for e in lake_events(landing) if e["source_file"] == relative] == []
    assert_reconciles(pub)
