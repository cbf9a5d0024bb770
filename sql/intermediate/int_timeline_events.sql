-- int_timeline_events
-- Grain: one row per event on a clinician's timeline (de-duplicated, excluded events dropped).
-- Scope: partition
-- Materialized: view
with events as (select * from stg_events)

select clinician_id, event_at, action, report_name, workstation_id, category, is_prescription,
       source_file, source_line
from events
where not is_duplicate and not is_excluded
