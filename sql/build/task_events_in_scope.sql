-- task_events_in_scope
-- Grain: one row per lake event of an incremental build task's buckets within the window of
-- its clinician's rebuilt days (scope_windows: 3 days either side, enough for every interval
-- that reaches into them). Run as lake_events.
-- Scope: partition
-- Materialized: view
-- Inputs: task_events, scope_windows.
with events as (select * from task_events),
windows as (select * from scope_windows)

select * from events e
where exists (
    select 1 from windows w
    where w.clinician_id = e.clinician_id
      and cast(timezone('UTC', e.event_at) as DATE) between w.first_date and w.last_date
)
