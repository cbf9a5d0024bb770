"""Ingest new audit extracts from the landing zone into the Parquet lake (SPEC 1, 7, 9).

One module per job, their names gathered here (what `wow run`, the flows, the tests and bench/
import from `wow_metrics.ingest`):

- discovery.py: the extracts under audit/<format>/, and why any other entry is not read
- compat.py: a lake read under other settings or another key refused, an older layout migrated
- plan.py: what a pass will do (new, changed, duplicate, unchanged), before any file is read
- batchplan.py, batch.py: a night's extracts of one format read in one pass
- single.py: one extract read alone (what a pass cannot take), a changed file deferred
- stream.py: an extract's parsed rows written to the lake (in memory, or bucket by bucket)
- rawcsv.py: the delimited and Parquet readers; careful.py: the careful read of a malformed
  file; lines.py: its line numbers; textfile.py: what every reader shares
- keys.py: pseudonym keys; parse.py: the parse's bounds and parameters
- records.py: the manifest, the report of a pass, a whole file's quarantine row
- workers.py: how many extracts are read at once, and their DuckDB connections
- formats.py: the declared extract formats
"""

from __future__ import annotations

from wow_metrics.ingest import single as _single
from wow_metrics.ingest import workers as _workers
from wow_metrics.ingest.batch import ingest_batch
from wow_metrics.ingest.batchplan import plan_batches
from wow_metrics.ingest.compat import LakeMismatch
from wow_metrics.ingest.discovery import EXTRACT_SUFFIXES, SourceFile, discover, file_sha256
from wow_metrics.ingest.keys import PSEUDONYMISED
from wow_metrics.ingest.parse import NOT_BEFORE, format_parse_params
from wow_metrics.ingest.plan import IngestPlan, PendingFile, plan_ingest
from wow_metrics.ingest.records import QUARANTINE_SCHEMA, IngestReport, is_unusable, record_ingest
from wow_metrics.ingest.single import IngestMemoryError, ingest_pending
from wow_metrics.ingest.stream import SMALL_EXTRACT_BYTES
from wow_metrics.ingest.workers import MAX_INGEST_WORKERS, ingest_workers, reference_share

__all__ = ["EXTRACT_SUFFIXES", "MAX_INGEST_WORKERS", "NOT_BEFORE", "PSEUDONYMISED",
           "QUARANTINE_SCHEMA", "SMALL_EXTRACT_BYTES", "IngestMemoryError", "IngestPlan",
           "IngestReport", "LakeMismatch", "PendingFile", "SourceFile", "discover",
           "file_sha256", "format_parse_params", "ingest_batch", "ingest_pending",
           "ingest_workers", "is_unusable", "plan_batches", "plan_ingest", "record_ingest",
           "reference_share"]

# Names private to the package, imported from here by tests and bench/ (as they were named
# before the package was split).
_connect = _workers.connect
_ingest_one = _single._ingest_one
_local = _workers._local
_worker_limits = _workers.worker_limits
