"""A landing zone or warehouse whose path holds a quote (issue 22): SQL never pastes a path into
a statement, so `O'Brien's share` runs like any other folder."""

from __future__ import annotations

from conftest import Landing


def ev(cid: str, when: str) -> dict:
    return {"clinician_id": cid, "event_time": when, "action": "Chart opened"}


def test_paths_with_quotes_run_publish_and_run_again(tmp_path):
    root = tmp_path / "O'Brien's share"
    landing = Landing(root / "landing 'zone'", root / "ware'house")
    landing.roster([{"clinician_id": "c1", "department": "O'Neill Clinic", "clinical_fte": "1"}])
    landing.schedule([{"clinician_id": "c1", "appointment_id": "a1",
                       "start_time": "2026-03-02T09:00:00", "duration_minutes": 60,
                       "status": "completed"}])
    landing.canonical([ev("c1", "2026-03-02T14:00:00Z"), ev("c1", "2026-03-02T14:04:00Z")],
                      name="night's extract.csv")
    first = landing.run()
    assert first.day("c1", "2026-03-02")["ehr_minutes"] == 4.0
    assert (landing.warehouse / "dashboard" / "index.html").is_file()
    assert not first.summary.warnings or all("exports or dashboard" not in w
                                             for w in first.summary.warnings)
    landing.canonical([ev("c1", "2026-03-03T14:00:00Z"), ev("c1", "2026-03-03T14:02:00Z")],
                      name="next night.csv")
    second = landing.run()  # incremental: scope, state and previous publication read again
    assert second.summary.build.startswith("incremental")
    assert second.day("c1", "2026-03-03")["ehr_minutes"] == 2.0
    assert second.period("c1", "2026-03-01")["department"] == "O'Neill Clinic"
