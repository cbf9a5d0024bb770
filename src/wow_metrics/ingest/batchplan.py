"""Group the pending extracts into batches, each read in one pass (ingest/batch.py): files of
one format that share a header, delimiter, line end and compression, within a pass's limits."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from wow_metrics.config import Settings, memory_limit_bytes
from wow_metrics.ingest.careful import MAX_HEADER_COLUMNS
from wow_metrics.ingest.textfile import UnreadableFile, first_line

# At most this many bytes of extracts (uncompressed, estimated) are read in one pass: the parse
# and the sort of the events hold about this much at once (spilled beyond memory_limit).
BATCH_BYTES = 256 << 20
BATCH_FILES = 64
FILE_COST_BYTES = 16 << 20
GZIP_RATIO = 8  # the estimate of a .gz extract's uncompressed size, as stream.SMALL_EXTRACT_BYTES


@dataclass(frozen=True)
class Shape:
    """What files read together share: their format, header, delimiter, line end, compression."""

    format_name: str
    header: tuple[str, ...]
    delimiter: str
    newline: str
    gzipped: bool


def _estimated_bytes(p) -> int:
    return p.size_bytes * (GZIP_RATIO if p.relative.lower().endswith(".gz") else 1)


def batch_shape(p, small_bytes: int) -> Shape | None:
    """The shape of a pending extract that can be read with others; None when it is read alone."""
    fmt = p.fmt
    name = p.relative.lower()
    if (fmt is None or p.problem is not None or fmt.encoding == "utf-16"
            or name.endswith(".parquet") or _estimated_bytes(p) >= small_bytes):
        return None
    try:
        line, newline = first_line(Path(p.path), fmt.encoding)
    except (UnreadableFile, OSError):
        return None  # read alone, which says why it cannot be read
    header, delimiter = fmt.split_header(line)
    lowered = [h.lower() for h in header]
    if (fmt.header_problem(header) or len(header) > MAX_HEADER_COLUMNS
            or len(set(lowered)) != len(lowered)):
        return None
    return Shape(fmt.name, tuple(header), delimiter, newline, name.endswith(".gz"))


def batch_limits(settings: Settings) -> tuple[int, int]:
    """(bytes, files) one pass may read. Each file read costs DuckDB about 12 MB whatever its
    size (its CSV buffers and the record numbering), on top of about the batch's bytes; with a
    memory_limit, a pass keeps within a third of it (two ingest workers and the reference
    staging share it: ingest.reference_share)."""
    limit = memory_limit_bytes(settings.memory_limit) if settings.memory_limit else None
    if not limit:
        return BATCH_BYTES, BATCH_FILES
    share = limit // 3
    return min(BATCH_BYTES, share // 4), max(2, min(BATCH_FILES, share // FILE_COST_BYTES))


def plan_batches(pending: list, settings: Settings, small_bytes: int) -> list[list]:
    """Group the pending extracts into batches read in one pass each, in plan order: files of
    one shape, within batch_limits; every other file a batch of its own."""
    limit, most = batch_limits(settings)
    open_batches: dict[Shape, list] = {}
    sizes: dict[Shape, int] = {}
    batches: list[list] = []
    for p in pending:
        shape = batch_shape(p, small_bytes)
        if shape is None:
            batches.append([p])
            continue
        if shape in open_batches and (sizes[shape] + _estimated_bytes(p) > limit
                                      or len(open_batches[shape]) >= most):
            del open_batches[shape]
        if shape not in open_batches:
            open_batches[shape] = []
            sizes[shape] = 0
            batches.append(open_batches[shape])
        open_batches[shape].append(p)
        sizes[shape] += _estimated_bytes(p)
    return batches
