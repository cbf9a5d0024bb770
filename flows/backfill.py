"""Rebuild a date range on demand (after a late or corrected extract, say): a shell over
`wow_metrics.orchestration.backfill`, the nightly flow's steps with every clinician-day from
start to end rebuilt on top of what changed."""

from wow_metrics.orchestration import BACKFILL_ARTIFACT as SUMMARY_ARTIFACT
from wow_metrics.orchestration import backfill, parse_range

__all__ = ["SUMMARY_ARTIFACT", "backfill", "parse_range"]
