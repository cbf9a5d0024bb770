"""Shared by the reliability tests: landing zones built from the sample, `wow run` as a real
subprocess, and what a warehouse looks like from outside (table digests, file listings)."""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from conftest import SAMPLE_LANDING as SAMPLE
from conftest import SITE_FORMAT

from wow_metrics.digest import table_digests

KEY = "reliability-test-pseudonym-key-not-a-secret-93c1e7b5"

# Nights of the sample (2026-02-01 to 2026-03-17): Monday to Thursday of its fourth week, then
# the Friday and Saturday after them.
BASE_DAYS = ("2026-02-23", "2026-02-24", "2026-02-25", "2026-02-26")
NEW_DAYS = ("2026-02-27", "2026-02-28")

# Version 2 of the site's declaration also reads ISO times: the row version 1 quarantined loads.
SITE_FORMAT_V2 = SITE_FORMAT.replace('["%d.%m.%Y %H:%M:%S"]', '["%d.%m.%Y %H:%M:%S", "iso8601"]')
ACME_ROWS = ("Operator\tWhenUTC\tEvent\tPatientRef\n"
             "A0001\t{d}.02.2026 14:00:00\tMSG_OPEN\tACME-P-1\n"
             "A0001\t{d}.02.2026 14:02:30\tNOTE_EDIT\tACME-P-1\n"
             "A0001\t2026-02-{d}T14:04:00Z\tMSG_OPEN\tACME-P-2\n"
             "A0002\t{d}.02.2026 22:10:00\tNOTE_EDIT\tACME-P-3\n")


def _sample_extracts(days: tuple[str, ...]) -> list[Path]:
    return sorted(p for p in (SAMPLE / "audit").rglob("*.*")
                  if any(day in p.name for day in days))


def base_landing(root: Path, declaration: str = SITE_FORMAT) -> Path:
    """The sample's reference files, its BASE_DAYS nights of both formats, and a site format."""
    shutil.copytree(SAMPLE / "reference", root / "reference")
    shutil.copy(SAMPLE / "wow.yaml", root / "wow.yaml")
    for path in _sample_extracts(BASE_DAYS):
        target = root / path.relative_to(SAMPLE)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target)
    actions = root / "reference" / "category_map.csv"
    actions.write_text(actions.read_text().rstrip("\n") + "\n"
                       "acme_audit,MSG_OPEN,,inbox,false\nacme_audit,NOTE_EDIT,,notes,false\n")
    (root / "formats").mkdir()
    (root / "formats" / "acme_audit.yml").write_text(declaration)
    for day in ("23", "24"):
        path = root / "audit" / "acme_audit" / f"acme_2026-02-{day}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(ACME_ROWS.format(d=day))
    return root


def add_nightly_delivery(root: Path) -> None:
    """What a night brings: new days of both formats, a corrected earlier file, a duplicate under
    another name, a file with a bad row, and a file that is not an extract of its format."""
    for path in _sample_extracts(NEW_DAYS):
        target = root / path.relative_to(SAMPLE)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target)
    feb = root / "audit" / "canonical" / "2026" / "02"
    corrected = feb / "events_2026-02-24.csv"
    lines = corrected.read_text().splitlines(keepends=True)
    corrected.write_text("".join(lines[: len(lines) * 2 // 3]))  # the vendor re-sent it shorter
    shutil.copy(feb / "events_2026-02-27.csv", feb / "events_2026-02-27_resent.csv")
    with open(feb / "events_2026-02-28.csv", "a", encoding="utf-8") as fh:
        fh.write("C0001,not-a-time,inbox_message_open,inbox,Z0000001,WS-X\n")
    epic = root / "audit" / "epic_access_log" / "2026" / "02"
    with gzip.open(epic / "access_log_broken.csv.gz", "wt") as fh:
        fh.write("USERID,WHEN\nC0001,2026-02-28\n")


def copy_tree(source: Path, target: Path) -> Path:
    shutil.copytree(source, target, symlinks=True)
    return target


@dataclass
class Outcome:
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def killed(self) -> bool:
        return self.returncode == -signal.SIGKILL


def wow_env(**extra: str) -> dict[str, str]:
    # No WOW_ variable of the test process reaches the run, but the gate engine (conftest.py).
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("WOW_") or k == "WOW_GATE_ENGINE"}
    env.update(WOW_PSEUDONYM_KEY=KEY, GX_ANALYTICS_ENABLED="false", DO_NOT_TRACK="1", **extra)
    return env


def wow_run(landing: Path, warehouse: Path, *, kill_at: str | None = None,
            kill_after: float | None = None, trace: Path | None = None,
            extra_env: dict[str, str] | None = None, preexec=None) -> Outcome:
    """`wow run` in its own process: killed at a progress marker, or after a delay, or not."""
    env = wow_env(**(extra_env or {}))
    if kill_at:
        env["WOW_KILL_AT"] = kill_at
    if trace:
        env["WOW_PROGRESS_FILE"] = str(trace)
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "wow_metrics.cli", "run", "--landing", str(landing),
         "--warehouse", str(warehouse)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, preexec_fn=preexec)
    try:
        out, err = proc.communicate(timeout=kill_after)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        out, err = proc.communicate(timeout=300)
    return Outcome(proc.returncode, out, err, time.monotonic() - started)


def digests(warehouse: Path) -> dict[str, str] | None:
    """Digest of every published table, or None when nothing is published."""
    db = warehouse / "wow.duckdb"
    return table_digests(db) if db.exists() else None


def exported_files(warehouse: Path) -> dict[str, str]:
    """sha256 of every leadership export file, by path."""
    root = warehouse / "exports"
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def warehouse_files(warehouse: Path) -> list[str]:
    """Every file a run leaves in the warehouse, except validation docs (they name the run)."""
    return sorted(p.relative_to(warehouse).as_posix() for p in warehouse.rglob("*")
                  if p.is_file() and p.relative_to(warehouse).parts[0] != "docs")
