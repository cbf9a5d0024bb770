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
# by the macro wow_clinician_bucket (sql/macros.sql) as its low four bits.

# The layout of the lake's events files (schemas/contracts/canonical_events.yml). Layout 2, the
# compact lake of issue 23, keeps only what the build and the audit trail need: the patient
# pseudonym as a 64-bit integer (pseudonym.PATIENT_KEY_BITS) instead of 64 hex digits, and no
# metric_id, process_id or encounter_key (read and checked by the ingest, used by nothing after
# it). Instants are Parquet's integer microseconds since the epoch (TIMESTAMPTZ); clinician,
# action, report, workstation, format and file name are dictionary-encoded by the Parquet
# writer, so a row holds small dictionary keys, not the text; rows are written in build order
# (clinician_id, event_at, source_line) to each bucket's file, which a partitioned write keeps
# nearly but not exactly (nothing reads them in file order: the build sorts). A lake of an older layout is
# migrated in place by the next run (migrate_events): the lake is the system of record, and its
# extracts may have been purged from the landing zone.
LAYOUT = 2
# How events files are written: Parquet 2 pages (delta-encoded integers, RLE dictionary keys)
# under zstd: 4.5% smaller than Parquet 1 pages on the 1M benchmark's lake.
EVENTS_PARQUET = "format parquet, compression zstd, parquet_version v2"
# How an ingest's scratch files are written (the records it read, the rows it parsed: each read
# back once or a few times, then deleted): a fast codec, not the lake's small one. Measured
# 2026-12-07 on 2 cores, alternated, profile_ingest.py: 40 extracts (1.39M rows) 4.28 s against
# zstd's 4.88 s (medians of 3); all 180 of the 10M landing zone 41.8 s against 42.1 s (of 2).
SCRATCH_PARQUET = "format parquet, compression snappy"
EVENT_COLUMNS = (
    ("source_file", "VARCHAR"), ("source_line", "BIGINT"), ("format", "VARCHAR"),
    ("clinician_id", "VARCHAR"), ("event_at", "TIMESTAMPTZ"), ("action", "VARCHAR"),
    ("report_name", "VARCHAR"), ("category_raw", "VARCHAR"), ("patient_key", "UBIGINT"),
    ("workstation_id", "VARCHAR"), ("is_time_ambiguous", "BOOLEAN"), ("bucket", "INTEGER"))
# Layout 1 (before issue 23) -> layout 2, row for row: the old patient_key was the 64 hex digits
# of the same HMAC, whose first 16 are the new key, so no key is needed and no extract re-read.
_FROM_LAYOUT_1 = """
    select source_file, source_line, format, clinician_id, event_at, action, report_name,
           category_raw, ('0x' || left(patient_key, 16))::UBIGINT as patient_key,
           workstation_id, is_time_ambiguous, bucket
    from read_parquet($old, hive_partitioning = false)
    order by clinician_id, event_at, source_line"""
class LakeLayoutError(RuntimeError):
    """The lake's events files are of an older layout that this run has not migrated."""


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

    @property
    def layout_path(self) -> Path:
        """The layout of the lake's events files (LAYOUT), written once all of them have it."""
        return self.root / "layout.txt"

    def layout(self) -> int:
        """The recorded layout: 1 for a lake from before the record was kept."""
        try:
            return int(self.layout_path.read_text().strip())
        except FileNotFoundError:
            return 1

    def check_layout(self, manifest: list[dict]) -> None:
        """Refuse to read events of a lake whose layout is not this version's."""
        if self.layout() != LAYOUT and any(r["status"] == "ingested" for r in manifest):
            raise LakeLayoutError(
                f"the lake at {self.root} has events files of layout {self.layout()}, not "
                f"{LAYOUT} (the compact lake of issue 23): a `wow run` over this warehouse "
                "migrates them in place first (nothing is read from the landing zone); "
                "nothing was read from it")

    def migrate_events(self, manifest: list[dict], con) -> list[Path]:
        """Bring every events file to LAYOUT in place, then record it; return the files
        rewritten. Each file is rewritten whole and atomically, so a run killed mid-way leaves
        files of either layout, and the next one migrates the rest (a file is recognised by its
        own schema). Only one writer works on a warehouse at a time (its lock)."""
        if self.layout() == LAYOUT:
            return []
        if self.layout() > LAYOUT:
            raise LakeLayoutError(
                f"the lake at {self.root} is of layout {self.layout()}, newer than this "
                f"version's {LAYOUT}: run it with the version that wrote it")
        for leftover in (self.root / "events").glob("bucket=*/.*.parquet.tmp-*"):
            leftover.unlink()  # a migration killed while it wrote the file
        rewritten = []
        for path in sorted((self.root / "events").glob("bucket=*/*.parquet")):
            schema = pq.read_schema(path)
            if schema.names == [name for name, _ in EVENT_COLUMNS] and \
                    schema.field("patient_key").type == pa.uint64():
                continue  # migrated by a run that stopped before it recorded the layout
            if not {"encounter_key", "patient_key"} <= set(schema.names) or \
                    schema.field("patient_key").type != pa.string():
                raise LakeLayoutError(f"{path}: not an events file of any known lake layout "
                                      f"(columns {', '.join(schema.names)}); nothing was read")
            tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
            con.execute(f"copy ({_FROM_LAYOUT_1}) to $tmp ({EVENTS_PARQUET})",
                        {"old": str(path), "tmp": str(tmp)})
            durable_replace(tmp, path)
            rewritten.append(path)
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.layout_path.with_name(f".{self.layout_path.name}.tmp-{os.getpid()}")
        tmp.write_text(f"{LAYOUT}\n")
        durable_replace(tmp, self.layout_path)
        return rewritten

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
        self.check_layout(manifest)
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
