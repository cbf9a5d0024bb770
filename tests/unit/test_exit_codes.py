"""Exit codes a scheduler can act on (issue 22): an unexpected error (a bug) has its own code,
70, apart from failed audits (1), bad input (2), a busy warehouse (3) and resource faults (4)."""

from __future__ import annotations

import pytest

from wow_metrics import cli


def test_an_unexpected_error_exits_70_with_its_traceback(landing, monkeypatch, capsys):
    import wow_metrics.pipeline

    def broken(*args, **kwargs):
        raise ZeroDivisionError("division by zero in a step")

    monkeypatch.setattr(wow_metrics.pipeline, "run", broken)
    landing.canonical([{"clinician_id": "c1", "event_time": "2026-03-02T14:00:00Z",
                        "action": "a"}])
    code = cli.main(["run", "--landing", str(landing.root), "--warehouse",
                     str(landing.warehouse)])
    err = capsys.readouterr().err
    assert code == cli.EXIT_INTERNAL == 70
    assert "Traceback" in err and "ZeroDivisionError: division by zero in a step" in err
    assert "internal error" in err and "not a problem with the data" in err


def test_failed_audits_still_exit_1(landing, monkeypatch, capsys):
    import wow_metrics.pipeline
    from wow_metrics.warehouse import AuditFailure

    def blocked(*args, **kwargs):
        raise AuditFailure({"t.check": [("row",)]})

    monkeypatch.setattr(wow_metrics.pipeline, "run", blocked)
    landing.canonical([{"clinician_id": "c1", "event_time": "2026-03-02T14:00:00Z",
                        "action": "a"}])
    assert cli.main(["run", "--landing", str(landing.root), "--warehouse",
                     str(landing.warehouse)]) == 1
    assert "Traceback" not in capsys.readouterr().err


@pytest.mark.parametrize("args", [["--clinicians", "0"], ["--days", "-3"],
                                  ["--start", "2026-13-01"], ["--events-per-day", "-1"]])
def test_generate_with_bad_numbers_is_a_usage_error(tmp_path, capsys, args):
    code = cli.main(["generate", "--out", str(tmp_path / "zone"), *args])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("wow: error:") and "Traceback" not in err
