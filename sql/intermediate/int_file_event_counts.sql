-- int_file_event_counts
-- Grain: one row per source_file, clinician_id and local activity_date of the event.
-- How each extract's rows ended up (duplicate, excluded, on the timeline), kept per
-- clinician-day so that an incremental build can replace just the days it rebuilds.
-- Scope: partition
-- Materialized: table
with events as (select * from stg_events),
dates as (select * from int_clinician_dates),

dated as (
    select e.source_file, e.clinician_id, d.activity_date, e.is_duplicate, e.is_excluded
    from events e
    asof join dates d on e.clinician_id = d.clinician_id and e.event_at >= d.day_start_at
)

select
    source_file,
    clinician_id,
    activity_date,
    count(*) filter (where is_duplicate)::BIGINT as rows_duplicate,
    count(*) filter (where is_excluded)::BIGINT as rows_excluded,
    count(*) filter (where not is_duplicate and not is_excluded)::BIGINT as rows_on_timeline
from dated
group by all
