"""One writer per warehouse: a second run waits or exits at once, changing nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from wow_metrics.lock import WarehouseBusy, warehouse_lock

TWO_EVENTS = ("clinician_id,event_time,action\n"
              "c1,2026-03-02T14:00:00Z,Chart opened\nc1,2026-03-02T14:03:00Z,Chart opened\n")


def _landing(root: Path, **settings) -> Path:
    (root / "audit" / "canonical").mkdir(parents=True)
    (root / "audit" / "canonical" / "night.csv").write_text(TWO_EVENTS)
    if settings:
        (root / "wow.yaml").write_text("".join(f"{k}: {v}\n" for k, v in settings.items()))
    return root


def _wow(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "wow_metrics.cli", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_second_run_exits_at_once_with_a_clear_message_and_changes_nothing(tmp_path):
    landing = _landing(tmp_path / "landing")
    warehouse = tmp_path / "warehouse"
    with warehouse_lock(warehouse, "test holder"):
        started = time.monotonic()
        proc = _wow("run", "--landing", str(landing), "--warehouse", str(warehouse))
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 3, err
        assert time.monotonic() - started < 60
    assert f"pid {os.getpid()}" in err and "'test holder'" in err
    assert "did not start and changed nothing" in err and "lock_wait_seconds" in err
    assert sorted(p.name for p in warehouse.iterdir()) == [".wow.lock"]


def test_second_run_waits_for_the_first_when_told_to(tmp_path):
    landing = _landing(tmp_path / "landing", lock_wait_seconds=120)
    warehouse = tmp_path / "warehouse"
    held = threading.Event()
    release = threading.Event()

    def holder() -> None:
        with warehouse_lock(warehouse, "test holder"):
            held.set()
            release.wait(60)

    thread = threading.Thread(target=holder)
    thread.start()
    held.wait(10)
    proc = _wow("run", "--landing", str(landing), "--warehouse", str(warehouse))
    time.sleep(3)
    assert proc.poll() is None  # still waiting
    assert not (warehouse / "wow.duckdb").exists()
    release.set()
    thread.join()
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert (warehouse / "wow.duckdb").exists()


def test_a_killed_holder_leaves_no_stale_lock(tmp_path):
    warehouse = tmp_path / "warehouse"
    proc = subprocess.Popen([sys.executable, "-c",
                             "import sys, time; from wow_metrics.lock import warehouse_lock\n"
                             "with warehouse_lock(sys.argv[1], 'doomed run'):\n"
                             "    print('held', flush=True); time.sleep(600)", str(warehouse)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    with pytest.raises(WarehouseBusy, match="doomed run"), warehouse_lock(warehouse, "second"):
        pass
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(30)
    with warehouse_lock(warehouse, "after the kill"):
        pass


@pytest.mark.parametrize("command", ["rollback", "export", "dashboard"])
def test_writing_commands_refuse_while_a_run_writes(tmp_path, command):
    warehouse = tmp_path / "warehouse"
    with warehouse_lock(warehouse, "wow run"):
        proc = _wow(command, "--warehouse", str(warehouse))
        _, err = proc.communicate(timeout=120)
    assert proc.returncode == 3, err
    assert "'wow run'" in err
