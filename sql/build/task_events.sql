-- task_events
-- Grain: one row per lake event of a build task's clinician buckets: the columns the models
-- use (is_time_ambiguous stays in the lake for analysts; no metric uses it). stg_events reads
-- it once. Run as lake_events by a full build; an incremental build keeps the events within
-- its scope's windows (task_events_in_scope).
-- Scope: partition
-- Materialized: view
-- Inputs: canonical_events (the task's events files).
select
    source_file, source_line, format, clinician_id, event_at, action, report_name,
    category_raw, patient_key, workstation_id
from canonical_events
