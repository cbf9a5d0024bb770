-- task_schedule_in_scope
-- Grain: one row per staged schedule row of an incremental build task's buckets that starts
-- within the window of its clinician's rebuilt days (scope_windows). Run as stg_schedule.
-- Scope: partition
-- Materialized: table
-- Inputs: task_schedule, scope_windows.
with schedule as (select * from task_schedule),
windows as (select * from scope_windows)

select * from schedule e
where exists (
    select 1 from windows w
    where w.clinician_id = e.clinician_id
      and cast(timezone('UTC', e.start_at) as DATE) between w.first_date and w.last_date
)
