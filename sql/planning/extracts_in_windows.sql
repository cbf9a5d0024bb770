-- extracts_in_windows
-- Grain: one row per extents row of a live extract within 4 days of a clinician's rebuilt days.
-- Only these extracts need reading (the window each build task applies to the rows is 3 days).
-- Scope: planning
-- Materialized: table
-- Inputs: extents_live, scope.
with extents as (select * from extents_live),
windows as (
    select clinician_id, min(activity_date) - 4 as first_date,
           max(activity_date) + 4 as last_date
    from scope group by all
)
select e.sha, e.events from extents e
join windows w
  on w.clinician_id = e.clinician_id
 and e.event_date_utc between w.first_date and w.last_date
