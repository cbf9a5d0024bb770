"""One writer per warehouse: a run (or rollback, export, dashboard rebuild) holds an OS lock.

The lock is `fcntl.flock` on `<warehouse>/.wow.lock`: the kernel releases it when the holder
exits, however it exits (a SIGKILLed run leaves no stale lock). Readers never take it: they read
the published `wow.duckdb`, which a run replaces atomically.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from wow_metrics.faults import check_writable

LOCK_NAME = ".wow.lock"
_POLL_SECONDS = 0.2


class WarehouseBusy(RuntimeError):
    """Another process is writing this warehouse."""


def _holder(path: Path) -> str:
    try:
        info = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        return "another process"
    parts = [f"pid {info['pid']}" if "pid" in info else None,
             f"'{info['command']}'" if "command" in info else None,
             f"since {info['since']}" if "since" in info else None]
    return "another process (" + ", ".join(p for p in parts if p) + ")"


@contextmanager
def warehouse_lock(warehouse: Path | str, command: str, wait_seconds: float = 0) -> Iterator[None]:
    """Hold the warehouse's writer lock for the block; wait up to wait_seconds, else raise."""
    warehouse = Path(warehouse)
    check_writable(warehouse)
    warehouse.mkdir(parents=True, exist_ok=True)
    path = warehouse / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + max(0.0, wait_seconds)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    waited = f" after waiting {wait_seconds:g} s" if wait_seconds else ""
                    raise WarehouseBusy(
                        f"warehouse {warehouse} is being written by {_holder(path)}{waited}; "
                        f"'{command}' did not start and changed nothing. Run it again when that "
                        "finishes, or set lock_wait_seconds in wow.yaml to wait for it."
                    ) from None
                time.sleep(_POLL_SECONDS)
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({
            "pid": os.getpid(), "command": command,
            "since": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}).encode())
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
