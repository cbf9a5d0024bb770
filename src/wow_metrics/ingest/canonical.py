"""The `canonical` extract format (SPEC 1.1)."""

from wow_metrics.ingest.formats import ExtractFormat

FORMAT = ExtractFormat(
    name="canonical",
    required=("clinician_id", "event_time", "action"),
    optional=("category", "patient_id", "workstation_id"),
    normalise_header=str.lower,
    sql="ingest/canonical.sql",
)
