"""Epic Clarity ACCESS_LOG joined to ACCESS_LOG_METRIC (SPEC 1.2)."""

from wow_metrics.ingest.formats import ExtractFormat

FORMAT = ExtractFormat(
    name="epic_access_log",
    required=("USER_ID", "METRIC_NAME"),
    one_of=("ACCESS_INSTANT", "ACCESS_TIME"),
    optional=("METRIC_ID", "REPORT_NAME", "PAT_ID", "WORKSTATION_ID", "PROCESS_ID", "CSN"),
    normalise_header=str.upper,
    sql="ingest/epic_access_log.sql",
)
