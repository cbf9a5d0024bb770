"""What the last publication was built from, so the next build can rebuild only what changed."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from wow_metrics.config import Settings
from wow_metrics.files import private_dir, replace_dir
from wow_metrics.progress import mark

# Settings that change no figure: a change to them needs no rebuild. Operational ones (speed,
# waiting, file modes) are not published; the gate's thresholds are, in metric_definitions,
# where its checks read them.
OPERATIONAL_SETTINGS = {"build_partitions", "threads", "memory_limit", "lock_wait_seconds",
                        "file_mode"}
GATE_SETTINGS = {"reference_check_severity", "max_reference_reject_share",
                 "max_eligible_drop_share"}
STATE_TABLES = ("stg_roster", "stg_schedule", "stg_holidays", "stg_category_map",
                "file_event_counts")
# The gate's count of each lake file (validate.create_contract_inputs). Saved with the state
# tables, but not required of a state: one saved before it existed is still trusted.
LAKE_FILE_ROWS = "lake_file_rows"


def settings_fingerprint(settings: Settings) -> str:
    """The settings every figure depends on, as canonical JSON."""
    values = {k: v for k, v in settings.model_dump().items()
              if k not in OPERATIONAL_SETTINGS | GATE_SETTINGS}
    return json.dumps(values, sort_keys=True)


def code_fingerprint() -> str:
    """A digest of every SQL file and table contract: a new version of the metric code
    invalidates every figure, and a new contract must be checked against every row."""
    import hashlib

    from wow_metrics.contracts import CONTRACTS_ROOT
    from wow_metrics.sqlfiles import SQL_ROOT

    digest = hashlib.sha256()
    for root, pattern in ((SQL_ROOT, "*.sql"), (CONTRACTS_ROOT, "*.yml")):
        for path in sorted(root.rglob(pattern)):
            digest.update(path.relative_to(root).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def formats_fingerprint(landing: Path) -> dict[str, str]:
    """The declaration digest of every extract format the landing zone can use, by name."""
    from wow_metrics.ingest.formats import registry

    reg = registry(landing)
    return {**{n: f.fingerprint for n, f in reg.formats.items()},
            **{n: "unusable" for n in reg.broken}}


def state_dir(warehouse: Path) -> Path:
    return warehouse / "state"


def load_state(warehouse: Path) -> dict | None:
    """The facts recorded at the last publication, or None when there are none to trust."""
    path = state_dir(warehouse) / "state.json"
    if not path.exists() or not (warehouse / "wow.duckdb").exists():
        return None
    state = json.loads(path.read_text())
    if "live_extracts" not in state:
        return None
    if not all((state_dir(warehouse) / f"{t}.parquet").exists() for t in STATE_TABLES):
        return None
    # The state is saved just after the publication it describes; a run killed in between
    # leaves a state of the publication before. Trust it only if it is the current one's.
    if state.get("run_id") != published_run_id(warehouse):
        return None
    return state


def known_lake_file_rows(warehouse: Path) -> dict[str, tuple[int, int, int]] | None:
    """Each lake file the last publication's gate counted, by file name under the lake's events
    folder: (rows, size in bytes, modification time in ns). None when the state has none."""
    path = state_dir(warehouse) / f"{LAKE_FILE_ROWS}.parquet"
    if not path.exists():
        return None
    import pyarrow.parquet as pq

    try:
        t = pq.read_table(path).to_pydict()
        return {name: (rows, size, modified) for name, rows, size, modified in zip(
            t["file_name"], t["rows"], t["size_bytes"], t["modified_ns"], strict=True)}
    except (OSError, KeyError, ValueError):  # unreadable: every footer is read, as on a full run
        return None


def published_run_id(warehouse: Path) -> str | None:
    """The run that made the current publication (None if it cannot be read)."""
    import duckdb

    try:
        with duckdb.connect(str(warehouse / "wow.duckdb"), read_only=True) as con:
            row = con.execute("select max(run_id) from metric_definitions").fetchone()
    except duckdb.Error:
        return None
    return row[0] if row else None


def save_state(con, warehouse: Path, settings: Settings, live_extracts: list[str],
               run_id: str, formats: dict[str, str]) -> None:
    """Record what the publication just made was built from (tables of the finishing database)."""
    final = state_dir(warehouse)
    tmp = warehouse / f".state-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    private_dir(tmp)  # the owner's only, in either file_mode
    for table in (*STATE_TABLES, LAKE_FILE_ROWS):
        con.execute(f"copy (select * from {table} order by all) to $p (format parquet)",
                    {"p": f"{tmp / table}.parquet"})
    (tmp / "state.json").write_text(json.dumps({
        "run_id": run_id,
        "settings": settings_fingerprint(settings),
        "code": code_fingerprint(),
        "formats": formats,
        "live_extracts": sorted(live_extracts),
    }, indent=1))
    mark("state.staged")
    replace_dir(tmp, final)
    mark("state.saved")
