"""Resource faults: a full disk, a read-only warehouse, a missing landing folder, too little memory.

Each is met by a real `wow run` on a published warehouse with the night's delivery waiting. The
run must fail with a clear message and its own exit code, leave the publication exactly as it
was, and the run after the fault is fixed must publish what an uninterrupted run publishes.
Faults that need root (a tmpfs or a read-only bind mount) are skipped where it is not allowed.
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from wowproc import (
    KEY,
    add_nightly_delivery,
    base_landing,
    copy_tree,
    digests,
    warehouse_files,
    wow_run,
)

pytestmark = pytest.mark.faults
EXIT_RESOURCE = 4
OBSERVED: dict[str, str] = {}  # case -> the error message a user saw (for the issue note)


@pytest.fixture(scope="module", autouse=True)
def _print_observed(request):
    """After the module: print what each fault looked like to a user (each test asserts it)."""
    yield
    if OBSERVED:
        reporter = request.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line("\nresource faults observed:")
            for case, message in OBSERVED.items():
                reporter.write_line(f"  {case}: {message}")


@dataclass
class Setup:
    root: Path
    template: Path
    landing: Path
    before: dict[str, str]
    after: dict[str, str]


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> Setup:
    root = tmp_path_factory.mktemp("resource")
    base = base_landing(root / "landing_base")
    template = root / "template"
    assert wow_run(base, template).returncode == 0
    landing = copy_tree(base, root / "landing")
    add_nightly_delivery(landing)
    clean = copy_tree(template, root / "clean")
    assert wow_run(landing, clean).returncode == 0
    return Setup(root, template, landing, digests(template), digests(clean))


def _error(outcome) -> str:
    lines = [line for line in outcome.stderr.splitlines() if line.startswith("wow: error:")]
    assert lines, outcome.stderr
    return lines[-1]


def _recovers(setup: Setup, warehouse: Path, landing: Path | None = None) -> None:
    """The fault fixed, the next run completes and publishes what an uninterrupted run does."""
    rerun = wow_run(landing or setup.landing, warehouse)
    assert rerun.returncode == 0, rerun.stderr
    assert digests(warehouse) == setup.after


def _can_mount() -> bool:
    if os.geteuid() != 0:
        return False
    probe = Path(f"/tmp/wow-mount-probe-{os.getpid()}")
    probe.mkdir(exist_ok=True)
    try:
        ok = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1M", "tmpfs", str(probe)],
                            capture_output=True).returncode == 0
        if ok:
            subprocess.run(["umount", str(probe)], check=True)
        return ok
    finally:
        probe.rmdir()


MOUNTS = pytest.mark.skipif(not _can_mount(), reason="needs root with mount (tmpfs, bind)")


@contextlib.contextmanager
def read_only(folder: Path) -> Iterator[None]:
    """Make `folder` read-only for real: a read-only bind mount (root) or no write bits."""
    if os.geteuid() == 0:
        subprocess.run(["mount", "--bind", str(folder), str(folder)], check=True)
        try:
            subprocess.run(["mount", "-o", "remount,ro,bind", str(folder)], check=True)
            yield
        finally:
            subprocess.run(["umount", str(folder)], check=True)
    else:
        modes = {p: p.stat().st_mode for p in [folder, *folder.rglob("*")] if p.is_dir()}
        for path in modes:
            path.chmod(0o555)
        try:
            yield
        finally:
            for path, mode in modes.items():
                path.chmod(mode)


def test_missing_landing_folder_is_a_clear_error_and_changes_nothing(setup: Setup, tmp_path):
    warehouse = copy_tree(setup.template, tmp_path / "warehouse")
    files = warehouse_files(warehouse)
    outcome = wow_run(tmp_path / "no-such-landing", warehouse)
    assert outcome.returncode == 2
    message = OBSERVED["missing landing folder"] = _error(outcome)
    assert "no-such-landing" in message and "does not exist" in message
    assert digests(warehouse) == setup.before and warehouse_files(warehouse) == files
    _recovers(setup, warehouse)


@pytest.mark.skipif(os.geteuid() == 0 and not _can_mount(), reason="root without mount")
def test_read_only_warehouse_is_a_clear_error_and_stays_readable(setup: Setup, tmp_path):
    warehouse = copy_tree(setup.template, tmp_path / "warehouse")
    with read_only(warehouse):
        outcome = wow_run(setup.landing, warehouse)
        assert digests(warehouse) == setup.before  # readers still read the publication
    assert outcome.returncode == EXIT_RESOURCE, outcome.stderr
    message = OBSERVED["read-only warehouse folder"] = _error(outcome)
    assert str(warehouse) in message and "not writable" in message
    assert "remain readable" in message
    _recovers(setup, warehouse)


@MOUNTS
def test_read_only_lake_met_mid_run_is_a_clear_error(setup: Setup, tmp_path):
    """The warehouse folder is writable, its lake is not: the run fails at its first lake write."""
    warehouse = copy_tree(setup.template, tmp_path / "warehouse")
    with read_only(warehouse / "lake"):
        outcome = wow_run(setup.landing, warehouse, trace=tmp_path / "trace")
    assert outcome.returncode == EXIT_RESOURCE, outcome.stderr
    message = OBSERVED["read-only lake folder (met mid-run)"] = _error(outcome)
    assert "could not be written" in message and "Read-only file system" in message
    assert "previous publication is unchanged" in message
    assert digests(warehouse) == setup.before
    _recovers(setup, warehouse)


@MOUNTS
@pytest.mark.parametrize("free_kib", [0, 256, 1536, 4096])
def test_full_disk_is_a_clear_error_and_the_next_run_recovers(setup: Setup, tmp_path, free_kib):
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24M", "tmpfs", str(mount)], check=True)
    try:
        warehouse = copy_tree(setup.template, mount / "warehouse")
        ballast = mount / "ballast"
        with open(ballast, "wb") as fh:  # fill the disk until only free_kib remain
            stat = os.statvfs(mount)
            fh.write(b"\0" * max(0, stat.f_bavail * stat.f_frsize - free_kib * 1024))
        trace = tmp_path / "trace"
        outcome = wow_run(setup.landing, warehouse, trace=trace)
        assert outcome.returncode == EXIT_RESOURCE, outcome.stderr
        message = _error(outcome)
        reached = trace.read_text().split() if trace.exists() else []
        OBSERVED[f"disk full, {free_kib} KiB free (last marker: "
                 f"{reached[-1] if reached else 'none'})"] = message
        assert "is full" in message and "No space left on device" in message
        assert "previous publication is unchanged" in message
        assert digests(warehouse) == setup.before
        ballast.unlink()
        _recovers(setup, warehouse)
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def _file_size_limit() -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails with EFBIG instead
    resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))


def test_file_size_limit_met_mid_run_is_a_clear_error(setup: Setup, tmp_path):
    """Runs without root: the first file over 1 MiB the run writes fails with EFBIG."""
    warehouse = copy_tree(setup.template, tmp_path / "warehouse")
    trace = tmp_path / "trace"
    outcome = wow_run(setup.landing, warehouse, preexec=_file_size_limit, trace=trace)
    assert outcome.returncode == EXIT_RESOURCE, outcome.stderr
    message = OBSERVED["file-size limit 1 MiB (ulimit -f)"] = _error(outcome)
    assert "ulimit -f" in message and "previous publication is unchanged" in message
    assert "publish.swapped" not in trace.read_text().split()
    assert digests(warehouse) == setup.before
    _recovers(setup, warehouse)


def test_memory_limit_too_small_is_a_clear_error(setup: Setup, tmp_path):
    landing = copy_tree(setup.landing, tmp_path / "landing")
    settings = (landing / "wow.yaml").read_text()
    (landing / "wow.yaml").write_text(settings + "memory_limit: 2MB\n")
    warehouse = copy_tree(setup.template, tmp_path / "warehouse")
    outcome = wow_run(landing, warehouse)
    assert outcome.returncode == EXIT_RESOURCE, outcome.stderr
    message = OBSERVED["memory_limit 2MB"] = _error(outcome)
    assert "memory_limit 2MB" in message and "Raise memory_limit" in message
    assert digests(warehouse) == setup.before
    (landing / "wow.yaml").write_text(settings)
    _recovers(setup, warehouse, landing)


def test_out_of_memory_in_the_build_is_the_same_clear_error(tmp_path, monkeypatch):
    """Not only ingest: DuckDB running out of memory in any step is one ResourceError."""
    import duckdb

    from wow_metrics import pipeline
    from wow_metrics.faults import ResourceError

    landing = base_landing(tmp_path / "landing")

    def out_of_memory(*args):
        raise duckdb.OutOfMemoryException("Out of Memory Error: failed to allocate 1.0 GiB")

    monkeypatch.setenv("WOW_PSEUDONYM_KEY", KEY)
    monkeypatch.setattr(pipeline, "build_partition", out_of_memory)
    with pytest.raises(ResourceError, match="needs more memory than DuckDB may use"):
        pipeline.run(landing, tmp_path / "warehouse")
    assert not (tmp_path / "warehouse" / "wow.duckdb").exists()
    assert list((tmp_path / "warehouse" / ".build").iterdir()) == []  # no scratch left
