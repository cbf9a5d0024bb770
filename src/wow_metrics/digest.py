"""Content digests of the published tables: equal digests mean byte-identical tables.

Used to show that a run is deterministic (arrival order, threads, partitioning) and that a run
recovered after a crash publishes what an uninterrupted run publishes. Each table's digest
covers its column names and types and every value of every row, in the order the rows are
stored (a table whose rows came out in another order has another digest). Floating-point
values are compared by their shortest round-trip text, so a last-bit difference shows.

Columns that record *when* and *by which run* something happened (`PROVENANCE_COLUMNS`) are
left out: two runs at different moments differ there by design.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

PROVENANCE_COLUMNS = frozenset({"run_id", "ingested_at", "checked_at"})


def table_digests(db_path: Path | str, tables: tuple[str, ...] | None = None) -> dict[str, str]:
    """sha256 per published table of the database at db_path (read-only)."""
    import duckdb

    from wow_metrics.warehouse import PUBLISHED_TABLES

    digests: dict[str, str] = {}
    with duckdb.connect(str(db_path), read_only=True) as con:
        for table in tables or PUBLISHED_TABLES:
            described = con.execute(f"describe {table}").fetchall()
            columns = [(name, kind) for name, kind, *_ in described
                       if name not in PROVENANCE_COLUMNS]
            digest = hashlib.sha256(repr(columns).encode())
            values = ", ".join(f'"{name}"' for name, _ in columns)
            # rowid is the stored position: no re-sorting hides an order difference.
            cursor = con.execute(f"select {values} from {table} order by rowid")
            while batch := cursor.fetchmany(10_000):
                for row in batch:
                    digest.update(repr(row).encode())
                    digest.update(b"\n")
            digests[table] = digest.hexdigest()
    return digests
