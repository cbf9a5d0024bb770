-- backfill_scope
-- Grain: one row per clinician_id and activity_date to rebuild: the build scope, plus every
-- clinician-day from $backfill_start to $backfill_end that has events (within the margin of
-- build_scope.sql) or a published row.
-- Scope: planning
-- Materialized: table
-- Inputs: build_scope, extents_live, days_prev.
with scope_rows as (select * from build_scope),
backfill_days as (
    select distinct clinician_id, activity_date from (
        select clinician_id, event_date_utc + offs as activity_date
        from extents_live, (select unnest([-2, -1, 0, 1, 2]) as offs)
        union select clinician_id, activity_date from days_prev
    ) where activity_date between $backfill_start and $backfill_end
)
select * from scope_rows
union all
(select * from backfill_days except select * from scope_rows)
