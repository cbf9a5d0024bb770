"""The gate with Great Expectations, GX in a process of its own.

Importing GX takes about 3 s of one core. On a thread of the run's process (as before) that
import holds Python's lock while the main thread drives DuckDB through the ingest and the
build: on a nightly increment they took 2-3 times as long beside it (bench/README.md). So a run
starts a helper process as it starts (`start`): the process imports GX, off the run's lock,
while the run ingests and builds, then waits for one request on its standard input. The gate
(`run_suites`) sends it a pandas frame of each table, the DuckDB audits run in the run's process
meanwhile, and GX's results (and its Data Docs, built into the report's staging folder) come
back on the process's standard output.

The helper ends after its one request, or as soon as its standard input closes: a run that stops
early, or dies (kill -9 included), leaves no process behind. A process that already has GX
imported (a test session, a second gate in one process) runs GX in place, and so does a gate
whose helper could not be used (it died, or was never started): the same checks, in the same
order, either way.
"""

from __future__ import annotations

import logging
import os
import pickle
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, Any

from wow_metrics.contracts import Contract
from wow_metrics.gate_checks import (
    GX_DOCS,
    CheckResult,
    audits_for,
    gate_engine,
    in_gx,
    publish_report,
    report_staging,
)
from wow_metrics.progress import mark

log = logging.getLogger(__name__)

WORKER_COMMAND = [sys.executable, "-m", "wow_metrics.gx_process"]
_WORKERS: dict[str | None, subprocess.Popen] = {}  # by run id: not yet used by a gate
_WORKERS_LOCK = threading.Lock()


def start(run_id: str | None, command: list[str] | None = None) -> None:
    """Start the GX process of run `run_id`, unless the gate runs without GX
    (WOW_GATE_ENGINE=duckdb) or this process has GX imported already.

    `wow run` calls start(None) first thing, before it imports the pipeline: a process for the
    run it is about to start, which start(run_id) then takes as that run's (half a second
    sooner on its import). `command` (the tests') starts that program instead, whatever this
    process has imported."""
    if command is None and (gate_engine() == "duckdb" or "great_expectations" in sys.modules):
        return
    with _WORKERS_LOCK:
        if run_id is not None and None in _WORKERS:
            _WORKERS[run_id] = _WORKERS.pop(None)
            return
    proc = subprocess.Popen(command or WORKER_COMMAND, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE)
    with _WORKERS_LOCK:
        _WORKERS[run_id] = proc


def stop(run_id: str | None) -> None:
    """End the GX process of run `run_id` if its gate did not use it (a run that stopped early;
    None: the one `wow run` started before it knew its run)."""
    with _WORKERS_LOCK:
        proc = _WORKERS.pop(run_id, None)
    if proc is not None:
        _end(proc, wait=0)  # it has nothing to finish


def _end(proc: subprocess.Popen, wait: float = 5) -> None:
    """Close the process's pipes and reap it: it ends by itself within `wait` seconds (having
    replied, or on the end of its input), else it is killed."""
    for pipe in (proc.stdin, proc.stdout):
        try:
            if pipe is not None:
                pipe.close()
        except OSError:
            pass
    try:
        proc.wait(timeout=wait)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def run_suites(con, contracts: dict[str, Contract], tables: list[str],
               docs_dir: Path | None = None, run_id: str | None = None) -> list[CheckResult]:
    """Check each table against its contract; optionally write the report to docs_dir.

    Per table: GX's results first (the column list, then the column checks it runs), then the
    DuckDB audits (column checks of a table checked in place, then the invariants). GX runs in
    the process `start(run_id)` started, or in this one."""
    staging = report_staging(docs_dir)
    gx_root = None if staging is None else staging / GX_DOCS
    # A table checked in place gives GX an empty frame of its columns (the column list).
    frames = {table: con.execute(f"select * from {table}"
                                 + ("" if in_gx(contracts[table]) else " limit 0")).df()
              for table in tables}
    with _WORKERS_LOCK:
        proc = _WORKERS.pop(run_id, None) if run_id is not None else None
    gx = None
    if proc is None:
        audits = {table: audits_for(con, contracts[table]) for table in tables}
    else:
        request = (frames, {table: contracts[table] for table in tables}, gx_root)
        sender = threading.Thread(target=_send, args=(proc.stdin, request), name="wow-gx-send",
                                  daemon=True)
        sender.start()
        try:
            audits = {table: audits_for(con, contracts[table]) for table in tables}
            sender.join()
            gx = _receive(proc)
        except BaseException:  # the run stops here (Ctrl-C included): so does its GX process
            _end(proc, wait=0)
            raise
    if gx is None:
        from wow_metrics import gx_suites  # GX is slow to import: only when validating here

        mark("validate.gx_in_process")
        gx = gx_suites.gx_results(frames, contracts, gx_root)
    del frames
    outcomes = [o for table in tables for o in gx[table] + audits[table]]
    if staging is not None and docs_dir is not None:
        publish_report(staging, docs_dir, outcomes)
    return outcomes


def _send(pipe: IO[bytes], request: tuple) -> None:
    try:
        pickle.dump(request, pipe, protocol=pickle.HIGHEST_PROTOCOL)
        pipe.close()
    except (OSError, ValueError):  # the process died: _receive finds it so
        pass


def _receive(proc: subprocess.Popen) -> dict[str, list[CheckResult]] | None:
    """GX's results from the process; None if it gave none (it died): GX then runs here. An
    error GX raised there is raised here, as it would have been in place."""
    try:
        status, payload = pickle.load(proc.stdout)
    except Exception:  # noqa: BLE001 (no reply: the gate runs GX in this process)
        _end(proc)
        log.warning("the Great Expectations process ended without a result (exit code %s); "
                    "the gate runs GX in the run's process", proc.returncode)
        return None
    _end(proc)
    if status == "error":
        raise payload
    mark("validate.gx_process")
    return payload


def main() -> None:
    """The helper process: import GX, then answer one request read from standard input."""
    # Ctrl-C in a terminal reaches the whole process group: the run handles it (and ends this
    # process); a traceback from here would only hide the run's message.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # The reply goes to the standard output as it was; whatever else is written there (by GX,
    # by a library's C code) goes to the run's error stream instead.
    reply = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    from wow_metrics import gx_suites  # noqa: F401 (GX imported now, while the run works)

    try:
        frames, contracts, gx_root = pickle.load(sys.stdin.buffer)
    except EOFError:  # the run ended, or died, without a gate
        return
    try:
        result: tuple[str, Any] = ("ok", _validate_in_two(frames, contracts, gx_root))
    except Exception as exc:  # noqa: BLE001 (raised again in the run's process)
        result = _error(exc)
    pickle.dump(result, reply, protocol=pickle.HIGHEST_PROTOCOL)
    reply.flush()
    # Done: no interpreter teardown (GX's takes most of a second, and the run waits for it).
    os._exit(0)


def _error(exc: Exception) -> tuple[str, Exception]:
    try:
        pickle.dumps(exc)
        return ("error", exc)
    except Exception:  # noqa: BLE001
        return ("error", RuntimeError(f"{type(exc).__name__}: {exc}"))


def _halves(frames: dict[str, Any], contracts: dict[str, Contract]) -> tuple[list, list]:
    """The tables in two groups of about as many GX expectations each (GX's time goes by
    expectations, not rows); the group with the largest suite first."""
    from wow_metrics import gx_suites

    size = {t: len(gx_suites.suite_for(contracts[t]).expectations) for t in frames}
    groups: tuple[list, list] = ([], [])
    totals = [0, 0]
    for table in sorted(frames, key=lambda t: (-size[t], t)):
        i = 0 if totals[0] <= totals[1] else 1
        groups[i].append(table)
        totals[i] += size[table]
    return groups


def _validate_in_two(frames: dict[str, Any], contracts: dict[str, Contract],
                     gx_root: Path | None) -> dict[str, list[CheckResult]]:
    """GX's results for every table: half the tables validated here, half in a fork of this
    process (GX already imported in both; each builds the Data Docs of its tables, this one in
    `gx_root`, the fork in a site beside it, `<gx_root>-2`). GX resolves metrics in Python on one
    thread, so one process uses one core; the run's process meanwhile only waits. A fork that
    dies leaves its tables to this process: the same checks either way."""
    from wow_metrics import gx_suites

    first, second = _halves(frames, contracts)
    if not second or (os.cpu_count() or 1) < 2:
        return gx_suites.gx_results(frames, contracts, gx_root)
    second_root = None if gx_root is None else gx_root.with_name(f"{gx_root.name}-2")
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the fork: its half, its Data Docs, then its results on the pipe
        os.close(read_end)
        try:
            out: tuple[str, Any] = ("ok", gx_suites.gx_results(
                {t: frames[t] for t in second}, contracts, second_root))
        except Exception as exc:  # noqa: BLE001 (raised again by the parent)
            out = _error(exc)
        with os.fdopen(write_end, "wb") as fh:
            pickle.dump(out, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as fh:
        try:
            mine = gx_suites.gx_results({t: frames[t] for t in first}, contracts, gx_root)
        finally:
            try:
                status, theirs = pickle.load(fh)
            except Exception:  # noqa: BLE001 (the fork died: its tables are validated here)
                status, theirs = "ok", gx_suites.gx_results(
                    {t: frames[t] for t in second}, contracts, second_root)
            os.waitpid(pid, 0)
    if status == "error":
        raise theirs
    results = {**mine, **theirs}
    return {table: results[table] for table in frames}


if __name__ == "__main__":
    main()
