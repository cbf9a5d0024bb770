"""How many extracts are read at once, and the DuckDB connection each reads with: the workers
share the run's threads and memory_limit with the reference staging."""

from __future__ import annotations

import os
import threading

from wow_metrics.config import Settings, memory_limit_bytes
from wow_metrics.sqlfiles import install_macros


def connect(memory_limit: str | None = None, threads: int | None = None):
    import duckdb

    config: dict[str, object] = {}
    if memory_limit:
        config["memory_limit"] = memory_limit
    if threads:
        config["threads"] = threads
    con = duckdb.connect(config=config)
    con.execute("set TimeZone = 'UTC'")
    install_macros(con)
    return con


_local = threading.local()
MAX_INGEST_WORKERS = 4


def ingest_workers(settings: Settings, extracts: int) -> int:
    """How many extracts `wow run` ingests at once: one per core (up to `threads`).

    A nightly extract is too small for DuckDB to spread over the cores (it gives each thread a
    row group of its own), so extracts are read side by side instead. The workers share
    `threads` and `memory_limit` (`worker_limits`) with the reference staging: together they
    never use more memory than a run was given.
    """
    cores = settings.threads or os.cpu_count() or 1
    workers = max(1, min(cores, extracts, MAX_INGEST_WORKERS))
    if settings.memory_limit and memory_limit_bytes(settings.memory_limit) is None:
        return 1  # a form DuckDB reads but this does not split: one extract at a time
    return workers


def worker_limits(settings: Settings, workers: int) -> tuple[str | None, int | None]:
    """(memory_limit, threads) of one of `workers` connections reading extracts side by side.

    Two or more workers leave one more share of memory_limit to the reference staging, which
    `wow run` runs beside them (`reference_share`)."""
    if workers <= 1:
        return settings.memory_limit, settings.threads
    threads = max(1, (settings.threads or os.cpu_count() or 1) // workers)
    return reference_share(settings, workers), threads


def reference_share(settings: Settings, workers: int) -> str | None:
    """One of `workers` + 1 equal shares of memory_limit (None when it is unset): each ingest
    worker's and the reference staging's, while `workers` (two or more) extracts are read."""
    if not settings.memory_limit:
        return None
    total = memory_limit_bytes(settings.memory_limit)
    assert total is not None, "ingest_workers gives one worker to a limit it cannot split"
    return f"{total // (workers + 1)}B"


def thread_connection(memory_limit: str | None, threads: int | None):
    """An in-memory DuckDB connection per thread, reused across the extracts it ingests."""
    if getattr(_local, "con", None) is None or _local.limits != (memory_limit, threads):
        _local.con = connect(memory_limit, threads)
        _local.limits = (memory_limit, threads)
    return _local.con
