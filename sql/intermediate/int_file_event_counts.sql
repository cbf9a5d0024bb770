-- int_file_event_counts
-- Grain: one row per source_file, clinician_id and local activity_date of the event.
-- How each extract's rows ended up (duplicate, excluded, on the timeline), kept per
-- clinician-day so that an incremental build can replace just the days it rebuilds.
-- Scope: partition
-- Materialized: table
-- stg_events is a table: the second reader below (a semi join on the few cut slots) scans it
-- again, which is cheaper than holding a materialised copy of every event for it.
with events as not materialized (select * from stg_events),
dates as (select * from int_clinician_dates),

-- Events counted per file, clinician and quarter-hour slot first; a slot is dated by its first
-- and last event, and only a slot that a local midnight cuts (rare) is dated event by event.
slots as (
    select
        source_file,
        clinician_id,
        epoch_us(event_at) // 900000000 as slot,
        min(event_at) as first_at,
        max(event_at) as last_at,
        count(*) filter (where is_duplicate) as rows_duplicate,
        count(*) filter (where is_excluded) as rows_excluded,
        count(*) filter (where not is_duplicate and not is_excluded) as rows_on_timeline
    from events
    group by all
),

slot_dates as (
    select s.*, d.activity_date as first_date, l.activity_date as last_date
    from slots s
    asof join dates d on s.clinician_id = d.clinician_id and s.first_at >= d.day_start_at
    asof join dates l on s.clinician_id = l.clinician_id and s.last_at >= l.day_start_at
),

dated as (
    select source_file, clinician_id, first_date as activity_date, rows_duplicate,
           rows_excluded, rows_on_timeline
    from slot_dates
    where first_date = last_date
    union all
    select e.source_file, e.clinician_id, d.activity_date,
           e.is_duplicate::BIGINT, e.is_excluded::BIGINT,
           (not e.is_duplicate and not e.is_excluded)::BIGINT
    from events e
    semi join (select source_file, clinician_id, slot from slot_dates
               where first_date <> last_date) cut
        on cut.source_file = e.source_file and cut.clinician_id = e.clinician_id
        and cut.slot = epoch_us(e.event_at) // 900000000
    asof join dates d on e.clinician_id = d.clinician_id and e.event_at >= d.day_start_at
)

select
    source_file,
    clinician_id,
    activity_date,
    sum(rows_duplicate)::BIGINT as rows_duplicate,
    sum(rows_excluded)::BIGINT as rows_excluded,
    sum(rows_on_timeline)::BIGINT as rows_on_timeline
from dated
group by all
