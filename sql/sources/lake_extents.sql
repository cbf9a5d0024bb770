-- lake_extents
-- Grain: one row per clinician_id, bucket and UTC event date of one lake extract (its
-- extents/<sha>.parquet file), with how many events it holds there.
-- Run as extents_changed (the extracts added or dropped since the last publication) and
-- extents_live (every live extract); `sha` is the extract's content digest, its file's name.
-- Scope: planning
-- Materialized: table
-- Params: $extent_files (one or more extents Parquet files; see lake_extents_none for none)
select
    cast(clinician_id as VARCHAR) as clinician_id,
    cast(bucket as INTEGER) as bucket,
    cast(event_date_utc as DATE) as event_date_utc,
    cast(events as BIGINT) as events,
    cast(parse_filename(filename, true) as VARCHAR) as sha
from read_parquet($extent_files, filename = true)
