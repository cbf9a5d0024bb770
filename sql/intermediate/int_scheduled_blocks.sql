-- int_scheduled_blocks
-- Grain: one row per clinician_id and maximal block of scheduled time.
-- Scheduled time is the union of [start, start + duration) of non-canceled appointments
-- (SPEC 5): overlapping or touching appointments merge into one block.
-- Scope: partition
-- Materialized: table
with appointments as (select * from stg_schedule where is_counted),

ordered as (
    select
        clinician_id, start_at, end_at,
        max(end_at) over (
            partition by clinician_id order by start_at, end_at
            rows between unbounded preceding and 1 preceding
        ) as covered_until
    from appointments
),

numbered as (
    select
        *,
        sum(case when covered_until is null or start_at > covered_until then 1 else 0 end) over (
            partition by clinician_id order by start_at, end_at rows unbounded preceding
        ) as block_no
    from ordered
)

select clinician_id, block_no, min(start_at) as block_start_at, max(end_at) as block_end_at
from numbered
group by clinician_id, block_no
