-- int_timeline_events
-- Grain: one row per event on a clinician's timeline (de-duplicated, excluded events dropped).
-- `stg_event_rowid` is the event's row in stg_events (a table), through which
-- int_event_intervals reads the tie-breaking columns of the few events that share an instant
-- instead of carrying them through its sort. stg_events is read directly, not through an
-- import CTE, because only a table's own scan has a rowid.
-- Scope: partition
-- Materialized: view
select clinician_id, event_at, action, report_name, workstation_id, category, is_prescription,
       source_file, source_line, rowid as stg_event_rowid
from stg_events
where not is_duplicate and not is_excluded
