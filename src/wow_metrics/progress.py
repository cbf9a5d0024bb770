"""Progress markers: the named points a run passes, for its debug log and for fault injection.

Each marker names a phase and a step (`ingest.bucket_durable`, `publish.swapped`, ...). A run
logs every marker it reaches at DEBUG level (`wow -v run`). Two environment variables serve the
fault-injection harness (tests/reliability); a production run sets neither:

- `WOW_PROGRESS_FILE=<path>`: append each marker reached to <path>, one per line;
- `WOW_KILL_AT=<marker>` or `<marker>#<n>`: the process kills itself with SIGKILL the first
  (n-th) time it reaches that marker, exactly as an operator's `kill -9` or an OOM killer would.
"""

from __future__ import annotations

import logging
import os
import signal
from collections import Counter
from collections.abc import Callable

log = logging.getLogger(__name__)

PROGRESS_FILE_ENV = "WOW_PROGRESS_FILE"
KILL_AT_ENV = "WOW_KILL_AT"
_reached: Counter[str] = Counter()
_listeners: list[Callable[[str], None]] = []


def add_listener(listener: Callable[[str], None]) -> None:
    """Call `listener(marker)` at every marker this process reaches (the benchmark harness
    times phases and measures their peak memory this way)."""
    _listeners.append(listener)


def mark(marker: str) -> None:
    """Record that the run reached `marker`; die here if the harness asked for it."""
    log.debug("progress: %s", marker)
    for listener in _listeners:
        listener(marker)
    trace = os.environ.get(PROGRESS_FILE_ENV)
    if trace:
        with open(trace, "a", encoding="utf-8") as fh:
            fh.write(marker + "\n")
    kill = os.environ.get(KILL_AT_ENV)
    if kill:
        target, _, nth = kill.partition("#")
        if target == marker:
            _reached[marker] += 1
            if _reached[marker] == int(nth or 1):
                os.kill(os.getpid(), signal.SIGKILL)
