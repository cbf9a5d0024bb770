-- clinician_buckets
-- Grain: one row per distinct clinician id (cleaned, non-blank) of the raw rows being ingested
-- (raw_events: a file read alone, or a batch of one format's files read in one pass).
-- The lake bucket of each clinician, computed once per clinician, not per row: md5 per row was
-- the slowest expression of the ingest. declared_format.sql's rows join it on clinician_id.
-- Inputs: raw_events (clinician_id VARCHAR).
-- Materialized: table
select clinician_id, wow_clinician_bucket(clinician_id) as bucket
from (select distinct wow_clean_id(clinician_id) as clinician_id from raw_events)
where clinician_id is not null
