-- stg_schedule
-- Grain: one row per data line of reference/schedule/*.csv.
-- start_time is wall clock in the clinician's time zone unless it carries an offset (SPEC 1.4);
-- the end is start + duration on the instant line. The same appointment_id seen again replaces
-- the earlier good row (last file in name order, then last line, wins). Canceled appointments
-- are kept here but flagged: `is_counted` marks what counts as time scheduled with patients.
-- Scope: reference
-- Materialized: table
-- Params: $default_timezone
with raw as (select * from raw_schedule),
roster as (select * from stg_roster where reject_reason is null and not is_replaced),

cleaned as (
    select
        r.source_file, r.source_line,
        nullif(trim(r.clinician_id), '') as clinician_id,
        nullif(trim(r.appointment_id), '') as appointment_id,
        nullif(trim(r.start_time), '') as start_time_text,
        nullif(trim(r.duration_minutes), '') as duration_text,
        try_cast(nullif(trim(r.duration_minutes), '') as DOUBLE) as duration_minutes,
        lower(nullif(trim(r.status), '')) as status,
        coalesce(ro.timezone, $default_timezone) as timezone
    from raw r
    left join roster ro on ro.clinician_id = trim(r.clinician_id)
),

walled as (
    select
        *,
        wow_iso_wall(wow_iso_parts(start_time_text)) as wall_at,
        wow_iso_parts(start_time_text).tz as offset_text
    from cleaned
),

instants as (
    select *, wow_iso_instant(wall_at, offset_text, timezone) as start_at from walled
),

checked as (
    select
        *,
        case
            when clinician_id is null then 'missing clinician_id'
            when appointment_id is null then 'missing appointment_id'
            when start_time_text is null then 'missing start_time'
            when wall_at is null and coalesce(offset_text, '') <> ''
                 and not wow_offset_is_valid(offset_text)
                then 'start_time ' || start_time_text || ' has a UTC offset outside -12:00 to +14:00'
            when wall_at is null then 'unparseable start_time ' || start_time_text
            when start_at is null
                then 'start_time ' || start_time_text || ' does not exist in ' || timezone || ' (DST gap)'
            when duration_text is null then 'missing duration_minutes'
            when duration_minutes is null then 'unparseable duration_minutes ' || duration_text
            when not wow_duration_in_range(duration_minutes)
                then 'duration_minutes ' || duration_text || ' out of range (0, 1440]'
            when status is null then 'missing status'
            when status not in ('scheduled', 'arrived', 'completed', 'no_show', 'canceled')
                then 'unknown status ' || status
        end as reject_reason
    from instants
),

ranked as (
    select
        *,
        reject_reason is null and row_number() over (
            partition by appointment_id, reject_reason is null
            order by source_file desc, source_line desc
        ) > 1 as is_replaced
    from checked
)

select
    source_file,
    source_line::BIGINT as source_line,
    clinician_id,
    appointment_id,
    start_at::TIMESTAMPTZ as start_at,
    -- Only a row that passed its checks has an end: a rejected duration (1e20, NaN) would not
    -- fit the cast and would stop the build.
    (case when reject_reason is null
          then start_at + to_microseconds(cast(round(duration_minutes * 60e6) as BIGINT))
     end)::TIMESTAMPTZ as end_at,
    timezone(timezone, start_at)::DATE as start_date,
    duration_minutes,
    status,
    reject_reason,
    is_replaced,
    reject_reason is null and not is_replaced and status <> 'canceled' as is_counted
from ranked
