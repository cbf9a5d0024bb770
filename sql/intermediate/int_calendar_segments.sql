-- int_calendar_segments
-- Grain: one row per clinician_id and segment_no: the stretches between consecutive calendar
-- edges (local midnight, workday start/end, scheduled-block and schedule-window edges).
-- Within a segment every attribute of SPEC 5 is constant, so cutting activity at segment
-- edges attributes it exactly.
-- Scope: partition
-- Materialized: table
with dates as (select * from int_clinician_dates),
blocks as (select * from int_scheduled_blocks),

edges as (
    select clinician_id, day_start_at as edge_at from dates
    union select clinician_id, day_end_at from dates
    union select clinician_id, workday_start_at from dates where not (is_weekend or is_holiday)
    union select clinician_id, workday_end_at from dates where not (is_weekend or is_holiday)
    union select clinician_id, window_start_at from dates where window_start_at is not null
    union select clinician_id, window_end_at from dates where window_end_at is not null
    union select clinician_id, block_start_at from blocks
    union select clinician_id, block_end_at from blocks
),

segments as (
    select
        clinician_id,
        edge_at as segment_start_at,
        lead(edge_at) over (partition by clinician_id order by edge_at) as segment_end_at
    from edges
),

dated as (
    select s.*, d.activity_date, d.is_weekend, d.is_holiday, d.workday_start_at, d.workday_end_at,
           d.window_start_at, d.window_end_at
    from segments s
    asof join dates d
        on s.clinician_id = d.clinician_id and s.segment_start_at >= d.day_start_at
    where s.segment_end_at is not null
),

scheduled as (
    select s.*, b.block_end_at
    from dated s
    asof left join blocks b
        on s.clinician_id = b.clinician_id and s.segment_start_at >= b.block_start_at
)

select
    clinician_id,
    row_number() over (partition by clinician_id order by segment_start_at) as segment_no,
    segment_start_at,
    segment_end_at,
    epoch_us(segment_end_at) - epoch_us(segment_start_at) as segment_us,
    activity_date,
    is_weekend or is_holiday
        or segment_start_at < workday_start_at or segment_start_at >= workday_end_at as is_pajama,
    coalesce(segment_start_at < block_end_at, false) as is_scheduled,
    coalesce(segment_start_at >= window_start_at and segment_start_at < window_end_at, false)
        as is_in_window
from scheduled
