"""The lake this run finds: refused when it was read under other settings or another key,
brought up to this version's layout when it is older."""

from __future__ import annotations

import logging

from wow_metrics import pseudonym
from wow_metrics.config import Settings
from wow_metrics.ingest.workers import connect
from wow_metrics.lake import LAYOUT, LIVE_STATUSES, Lake
from wow_metrics.progress import mark

log = logging.getLogger(__name__)


class LakeMismatch(RuntimeError):
    """The lake was built with settings or a key that this run does not share."""


def check_lake_compatible(manifest: list[dict], settings: Settings, key: bytes) -> str:
    """Refuse a lake read under another default_timezone or pseudonymised with another key;
    return the key check to record for this run's files (the lake's own, or a new one).

    A lake of the old scheme (an unsalted HMAC of the key) is recognised: with the key it was
    built with, every row's old fingerprint is replaced by a salted check (saved with the
    manifest); with any other key the run stops."""
    live = [r for r in manifest if r["status"] in LIVE_STATUSES]
    zones = {r["default_timezone"] for r in live}
    checks = {r["key_fingerprint"] for r in live}
    if zones and zones != {settings.default_timezone}:
        raise LakeMismatch(
            f"the lake was ingested with default_timezone {sorted(zones)} but wow.yaml now says "
            f"{settings.default_timezone!r}: naive times would be read differently. "
            "Re-run with --reingest to read every extract of the landing zone again under the "
            "new setting (it lists, and keeps, extracts already purged from the landing zone)."
        )
    if any(not pseudonym.key_matches(key, check) for check in checks):
        old = any(pseudonym.is_legacy_fingerprint(c) for c in checks)
        raise LakeMismatch(
            "the lake was pseudonymised with a different WOW_PSEUDONYM_KEY than this run's"
            + (" (recorded under the older, unsalted fingerprint scheme)" if old else "")
            + ": patient keys would not match. Use the original key, or --reingest to read "
            "every extract of the landing zone again under the new one.")
    current = [c for c in checks if pseudonym.is_key_check(c)]
    check = current[0] if current else pseudonym.new_key_check(key)
    legacy = [r for r in manifest if pseudonym.is_legacy_fingerprint(r["key_fingerprint"])]
    if legacy:
        log.warning("the lake's record of the pseudonym key used the older, unsalted fingerprint "
                    "scheme (an HMAC of the key, cheap to test guesses against); the key matches, "
                    "and the record is replaced by a salted scrypt check")
        for row in legacy:
            # A row no longer live may have been read under another key: its record is dropped.
            row["key_fingerprint"] = (check if pseudonym.key_matches(key, row["key_fingerprint"])
                                      else None)
    return check


def migrate_lake(lake: Lake, manifest: list[dict], settings: Settings) -> None:
    """Bring a lake of an older layout to this version's (lake.LAYOUT) in place, saying so."""
    if lake.layout() == LAYOUT:
        return
    con = connect(settings.memory_limit, settings.threads)
    try:
        rewritten = lake.migrate_events(manifest, con)
    finally:
        con.close()
    if rewritten:
        log.warning("the lake's events files were of layout 1 (before the compact lake of "
                    "issue 23): %d file(s) rewritten in place to layout %d, row for row (patient "
                    "keys shortened to 64 bits; metric_id, process_id and encounter_key, used by "
                    "no metric, dropped); no extract was read again", len(rewritten), LAYOUT)
    mark("ingest.lake_migrated")
