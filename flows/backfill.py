"""Rebuild a date range on demand (after a late or corrected extract, say): the nightly flow's
steps, with every clinician-day from start to end rebuilt on top of what changed."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger

from flows.nightly import run_steps, summary_markdown
from wow_metrics.config import load_settings_file

SUMMARY_ARTIFACT = "wow-backfill-summary"


def parse_range(start: str, end: str) -> tuple[dt.date, dt.date]:
    """The inclusive date range start..end, from ISO dates (YYYY-MM-DD)."""
    try:
        first, last = dt.date.fromisoformat(start), dt.date.fromisoformat(end)
    except ValueError as exc:
        raise ValueError(f"backfill dates must be YYYY-MM-DD: {exc}") from None
    if first > last:
        raise ValueError(f"backfill start {first} is after end {last}")
    return first, last


@flow(name="backfill", description="Rebuild the WOW metric tables for a range of dates.")
def backfill(landing: str, warehouse: str, start: str, end: str,
             config: str | None = None) -> dict[str, Any]:
    """Rebuild start..end (inclusive) and whatever else changed; return the summary and artifact id."""
    from prefect.artifacts import create_markdown_artifact

    first, last = parse_range(start, end)
    settings = load_settings_file(config) if config else None
    summary = run_steps(Path(landing), Path(warehouse), settings=settings, backfill=(first, last))
    get_run_logger().info("backfill %s..%s: %s", first, last, summary.build)
    artifact = create_markdown_artifact(
        markdown=summary_markdown(summary) + f"\n\nBackfill of {first} to {last}.",
        key=SUMMARY_ARTIFACT, description=f"wow backfill run {first} to {last}")
    return {"summary": summary, "artifacts": {SUMMARY_ARTIFACT: str(artifact)}}
