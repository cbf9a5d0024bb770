-- int_clinicians
-- Grain: one row per clinician_id with events (any: duplicates and excluded ones too, so that
-- every event can be dated for reconciliation) or scheduled time.
-- Roster attributes where the roster has a good row; otherwise department 'unknown', no FTE,
-- and the default time zone (SPEC 1.3).
-- Scope: partition
-- Materialized: table
-- Params: $default_timezone
with events as (select * from stg_events),
appointments as (select * from stg_schedule where is_counted),
roster as (select * from stg_roster where reject_reason is null and not is_replaced),

measured as (
    select distinct clinician_id from events
    union
    select distinct clinician_id from appointments
)

select
    m.clinician_id,
    coalesce(r.department, 'unknown') as department,
    r.specialty,
    r.role,
    r.clinical_fte,
    coalesce(r.timezone, $default_timezone) as timezone,
    r.clinician_id is not null as has_roster_row
from measured m
left join roster r using (clinician_id)
