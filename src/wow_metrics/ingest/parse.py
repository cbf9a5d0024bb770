"""The parameters every reading of an extract gives sql/ingest/declared_format.sql: the
plausibility and size bounds of its values, and whether a file needs the row-by-row checks."""

from __future__ import annotations

import datetime as dt

NOT_BEFORE = dt.datetime(1990, 1, 1, tzinfo=dt.UTC)
# Identifiers (clinician, patient, encounter, workstation, metric, process) are at most this
# many characters, and other text values (action, report name) at most MAX_TEXT_CHARS.
MAX_ID_CHARS = 128
MAX_TEXT_CHARS = 256


def format_parse_params(format_params: dict[str, object], now: dt.datetime,
                        check_values: bool) -> dict[str, object]:
    """The $parameters of sql/ingest/declared_format.sql: a format's (ExtractFormat.sql_params)
    and the plausibility and size bounds every reading shares (an instant after `now` + 1 day
    is in the future)."""
    return {**format_params, "not_after": now + dt.timedelta(days=1), "not_before": NOT_BEFORE,
            "check_values": check_values, "max_id_chars": MAX_ID_CHARS,
            "max_text_chars": MAX_TEXT_CHARS}


def has_bad_values(con, raw_sql: str) -> bool:
    """Whether any clinician, workstation, metric or process id, action or report name of the
    file is too long or holds a control character: checked on distinct values (few), so that
    clean files skip the row-by-row checks in sql/ingest/declared_format.sql."""
    branches = [
        f"select v, {limit} as max_chars, {str(text).lower()} as allow_breaks "
        f"from (select distinct {column} as v from {raw_sql})"
        for column, limit, text in (
            ("clinician_id", MAX_ID_CHARS, False), ("action", MAX_TEXT_CHARS, True),
            ("report_name", MAX_TEXT_CHARS, True), ("workstation_id", MAX_ID_CHARS, False),
            ("metric_id", MAX_ID_CHARS, False), ("process_id", MAX_ID_CHARS, False))]
    return bool(con.execute(
        f"select count(*) from ({' union all '.join(branches)}) "
        "where wow_value_problem(wow_clean_id(v), max_chars, allow_breaks) is not null"
    ).fetchall()[0][0])
