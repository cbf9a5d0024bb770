"""The Parquet lake under the warehouse folder and its ingest manifest."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from wow_metrics.files import durable_replace

MANIFEST_SCHEMA = pa.schema([
    ("file_path", pa.string()),          # relative to the landing folder
    ("format", pa.string()),
    ("content_sha256", pa.string()),
    ("size_bytes", pa.int64()),
    ("mtime_ns", pa.int64()),
    ("status", pa.string()),             # ingested | quarantined | duplicate_content | superseded
    ("rows_read", pa.int64()),
    ("rows_quarantined", pa.int64()),
    ("rows_written", pa.int64()),
    ("message", pa.string()),
    ("run_id", pa.string()),
    ("ingested_at", pa.timestamp("us", tz="UTC")),
    ("default_timezone", pa.string()),
    ("key_fingerprint", pa.string()),
    ("format_fingerprint", pa.string()),  # the format declaration the file was read with
])

LIVE_STATUSES = ("ingested", "quarantined")

# The lake is partitioned by a stable hash of clinician_id so that a build task reads only its
# bucket's files. The count is part of the lake's layout: changing it needs --full-refresh.
N_BUCKETS = 16
# The bucket is md5_number(clinician_id) % 16 (the canonical_events contract says so), computed
# as its low four bits: the same number, but DuckDB's modulo of a 128-bit unsigned integer costs
# ~2.5 us a row (0.6 s over a 150k-row schedule, in every build task) and the mask next to none.
assert N_BUCKETS & (N_BUCKETS - 1) == 0, "the bucket mask needs a power of two"
BUCKET_SQL = f"cast(md5_number(clinician_id) & {N_BUCKETS - 1} as INTEGER)"


def atomic_write_parquet(table: pa.Table, path: Path) -> None:
    """Write a Parquet file so readers see the old file or the whole new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    pq.write_table(table, tmp)
    durable_replace(tmp, path)


@dataclass(frozen=True)
class Lake:
    """Paths of the lake: one events and one quarantine Parquet per ingested extract version."""

    warehouse: Path

    @property
    def root(self) -> Path:
        return self.warehouse / "lake"

    @property
    def manifest_path(self) -> Path:
        return self.root / "manifest.parquet"

    def events_path(self, sha: str, bucket: int) -> Path:
        return self.root / "events" / f"bucket={bucket:02d}" / f"{sha}.parquet"

    def events_paths(self, sha: str) -> list[Path]:
        return sorted((self.root / "events").glob(f"bucket=*/{sha}.parquet"))

    def extents_path(self, sha: str) -> Path:
        """Per clinician and UTC date: how many events an extract holds (for incremental scope)."""
        return self.root / "extents" / f"{sha}.parquet"

    def remove_content(self, sha: str) -> None:
        """Delete the rows of one extract version; its extents stay, so the next incremental
        build knows which clinician-periods lost them."""
        for path in [*self.events_paths(sha), self.quarantine_path(sha)]:
            path.unlink(missing_ok=True)

    def remove_unrecorded(self, manifest: list[dict]) -> list[Path]:
        """Delete lake files of content the manifest never recorded: what a run killed before
        it saved the manifest had written. They were never read as data (readers go through
        the manifest); removing them keeps the lake what the manifest says it is."""
        known = {r["content_sha256"] for r in manifest}
        stray = [p for pattern in ("events/bucket=*/*.parquet", "extents/*.parquet",
                                   "quarantine/*.parquet")
                 for p in self.root.glob(pattern) if p.stem not in known]
        for path in stray:
            path.unlink(missing_ok=True)
        return stray

    @staticmethod
    def unusable_quarantine_rows(manifest: list[dict]) -> list[dict]:
        """The whole-file quarantine row of each live file no declared format reads, from its
        manifest message ('<path>: file quarantined: <reason>')."""
        rows = []
        for r in sorted(manifest, key=lambda r: r["file_path"]):
            if r["status"] == "quarantined" and r.get("format_fingerprint") is None:
                message = r["message"] or "file quarantined: not readable as any declared format"
                reason = message.removeprefix(f"{r['file_path']}: ")
                rows.append({"source_file": r["file_path"], "source_line": None,
                             "reason": reason, "clinician_id": None})
        return rows

    def quarantine_path(self, sha: str) -> Path:
        return self.root / "quarantine" / f"{sha}.parquet"

    def load_manifest(self) -> list[dict]:
        if not self.manifest_path.exists():
            return []
        return pq.read_table(self.manifest_path).to_pylist()

    def save_manifest(self, rows: list[dict]) -> None:
        atomic_write_parquet(pa.Table.from_pylist(rows, schema=MANIFEST_SCHEMA), self.manifest_path)

    def live_event_files(self, manifest: list[dict], buckets: list[int] | None = None) -> list[Path]:
        """Events Parquet of every live ingested extract (optionally of some buckets only)."""
        live = {r["content_sha256"] for r in manifest if r["status"] == "ingested"}
        wanted = range(N_BUCKETS) if buckets is None else buckets
        return [p for b in wanted
                for p in sorted((self.root / "events" / f"bucket={b:02d}").glob("*.parquet"))
                if p.stem in live]

    def live_quarantine_files(self, manifest: list[dict]) -> list[Path]:
        """Quarantine Parquet of every live extract that a declared format read (a file no
        format reads has no lake file: see unusable_quarantine_rows)."""
        rows = sorted((r for r in manifest if r["status"] in LIVE_STATUSES
                       and not (r["status"] == "quarantined"
                                and r.get("format_fingerprint") is None)),
                      key=lambda r: r["file_path"])
        return [p for r in rows if (p := self.quarantine_path(r["content_sha256"])).exists()]
