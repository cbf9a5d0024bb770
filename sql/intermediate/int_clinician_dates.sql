-- int_clinician_dates
-- Grain: one row per clinician_id and local activity_date, over each clinician's data (+/- 2 days).
-- The data are all events, duplicates and excluded ones included (int_file_event_counts dates
-- every event: a clinician whose only events are excluded still has dates), and appointments.
-- Local calendar edges as instants, converted with the real tz rules (a DST day has 23 or 25
-- hours): the day, the workday clock window (weekdays that are not holidays), and the schedule
-- window of the date [first start - grace, latest end + grace] clipped to the date, since a
-- piece is only ever compared with the window of its own date (SPEC 5).
-- Scope: partition
-- Materialized: table
-- Params: $workday_start, $workday_end, $grace_us
with clinicians as (select * from int_clinicians),
events as (select * from stg_events),
appointments as (select * from stg_schedule where is_counted),
holidays as (select distinct holiday_date from stg_holidays where reject_reason is null),

spans as (
    select clinician_id, min(event_at) as first_at, max(event_at) as last_at
    from events group by clinician_id
    union all
    select clinician_id, min(start_at), max(end_at) from appointments group by clinician_id
),

ranges as (
    -- A local date is within a day of the UTC date; two days of margin cover every zone.
    select
        clinician_id,
        cast(timezone('UTC', min(first_at)) as DATE) - 2 as first_date,
        cast(timezone('UTC', max(last_at)) as DATE) + 2 as last_date
    from spans
    group by clinician_id
),

dates as (
    select r.clinician_id, c.timezone,
           cast(unnest(generate_series(r.first_date, r.last_date, interval 1 day)) as DATE) as activity_date
    from ranges r join clinicians c using (clinician_id)
),

windows as (
    select clinician_id, start_date as activity_date,
           min(start_at) - to_microseconds($grace_us) as window_start_at,
           max(end_at) + to_microseconds($grace_us) as window_end_at,
           count(*) as appointments
    from appointments
    group by clinician_id, start_date
),

edges as (
    select
        d.clinician_id, d.activity_date, d.timezone,
        wow_local_edge(d.timezone, cast(d.activity_date as TIMESTAMP)) as day_start_at,
        wow_local_edge(d.timezone, cast(d.activity_date + 1 as TIMESTAMP)) as day_end_at,
        wow_local_edge(d.timezone, d.activity_date + cast($workday_start as TIME)) as workday_start_at,
        wow_local_edge(d.timezone, d.activity_date + cast($workday_end as TIME)) as workday_end_at,
        isodow(d.activity_date) in (6, 7) as is_weekend,
        h.holiday_date is not null as is_holiday,
        w.window_start_at,
        w.window_end_at,
        coalesce(w.appointments, 0) as appointments
    from dates d
    left join holidays h on h.holiday_date = d.activity_date
    left join windows w on w.clinician_id = d.clinician_id and w.activity_date = d.activity_date
)

select
    clinician_id, activity_date, timezone, day_start_at, day_end_at,
    workday_start_at, workday_end_at, is_weekend, is_holiday, appointments,
    -- greatest/least skip NULLs in DuckDB: a date without appointments must keep no window.
    case when window_start_at is not null then greatest(window_start_at, day_start_at) end
        as window_start_at,
    case when window_end_at is not null then least(window_end_at, day_end_at) end as window_end_at
from edges
