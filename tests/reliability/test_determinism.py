"""Determinism: the same inputs and settings publish byte-identical tables, whatever the order
the extracts arrived in, the number of DuckDB threads or the number of build partitions.

"Byte-identical" is `wow_metrics.digest.table_digests`: every column's name and type and every
value of every row in stored order (floats by their exact round-trip text), leaving out only
the columns that say when and by which run (run_id, ingested_at, checked_at). Dask partitioning
is covered in tests/flows/test_nightly_flow.py with the same digests.
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import pytest
from wowproc import KEY, base_landing, copy_tree

from wow_metrics.config import load_settings
from wow_metrics.digest import table_digests
from wow_metrics.pipeline import run

pytestmark = pytest.mark.faults


def _extracts(landing: Path) -> list[Path]:
    return sorted(p for p in (landing / "audit").rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def landing(tmp_path_factory) -> Path:
    """The base landing zone plus two more days and a file with a bad row (no replacements:
    a corrected file arriving before its original would be another input, not another order)."""
    from wowproc import NEW_DAYS, SAMPLE

    root = base_landing(tmp_path_factory.mktemp("determinism") / "landing")
    for path in sorted(p for p in (SAMPLE / "audit").rglob("*.*")
                       if any(day in p.name for day in NEW_DAYS)):
        target = root / path.relative_to(SAMPLE)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target)
    with open(root / "audit" / "canonical" / "2026" / "02" / "events_2026-02-28.csv", "a") as fh:
        fh.write("C0001,not-a-time,inbox_message_open,inbox,Z0000001,WS-X\n")
    return root


def _publish(landing: Path, warehouse: Path, **settings) -> dict[str, str]:
    chosen = load_settings(landing).model_copy(update=settings)
    run(landing, warehouse, key=KEY.encode(), settings=chosen)
    return table_digests(warehouse / "wow.duckdb")


@pytest.fixture(scope="module")
def reference(landing: Path, tmp_path_factory) -> dict[str, str]:
    """Everything delivered at once, two threads, the default partitions."""
    return _publish(landing, tmp_path_factory.mktemp("reference") / "warehouse", threads=2)


@pytest.mark.parametrize(("threads", "partitions"), [(1, 1), (2, 3), (2, 16)])
def test_threads_and_partitions_do_not_change_a_byte(landing, reference, tmp_path, threads,
                                                     partitions):
    assert _publish(landing, tmp_path / "warehouse", threads=threads,
                    build_partitions=partitions) == reference


@pytest.mark.parametrize("order", ["newest_first", "shuffled_seed_7", "one_format_at_a_time"])
def test_arrival_order_does_not_change_a_byte(landing, reference, tmp_path, order):
    """The extracts arrive over several nightly runs in another order; the last publication
    equals the one made from everything at once."""
    files = _extracts(landing)
    if order == "newest_first":
        batches = [files[i::3] for i in range(3)][::-1]
        batches = [sorted(b, reverse=True) for b in batches]
    elif order == "shuffled_seed_7":
        shuffled = files[:]
        random.Random(7).shuffle(shuffled)
        batches = [shuffled[i:i + 4] for i in range(0, len(shuffled), 4)]
    else:
        by_format: dict[str, list[Path]] = {}
        for path in files:
            by_format.setdefault(path.relative_to(landing / "audit").parts[0], []).append(path)
        batches = [by_format[name] for name in sorted(by_format, reverse=True)]
    assert sorted(p for b in batches for p in b) == files and len(batches) >= 3

    partial = tmp_path / "landing"
    shutil.copytree(landing, partial, ignore=shutil.ignore_patterns("audit"))
    warehouse = tmp_path / "warehouse"
    for batch in batches:
        for path in batch:
            target = partial / path.relative_to(landing)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
        digests = _publish(partial, warehouse, threads=2)
    assert digests == reference


def test_a_difference_is_seen(landing, reference, tmp_path):
    """The digests are not blind: one event moved by a second changes the day table."""
    changed = copy_tree(landing, tmp_path / "landing")
    path = changed / "audit" / "canonical" / "2026" / "02" / "events_2026-02-27.csv"
    lines = path.read_text().splitlines(keepends=True)
    fields = lines[5].split(",")
    stamp = fields[1]  # e.g. 2026-02-27T11:52:26.934000-05:00: move it by one second
    seconds = int(stamp[17:19])
    fields[1] = f"{stamp[:17]}{(seconds + 1) % 60:02d}{stamp[19:]}"
    lines[5] = ",".join(fields)
    path.write_text("".join(lines))
    digests = _publish(changed, tmp_path / "warehouse", threads=2)
    assert digests["ehr_time_by_clinician_day"] != reference["ehr_time_by_clinician_day"]
    assert digests["metric_definitions"] == reference["metric_definitions"]
