-- build_scope
-- Grain: one row per clinician_id and activity_date that an incremental build must rebuild.
-- A clinician-day is rebuilt when anything that can change one of its figures changed since
-- the last publication: events added or removed (by extract extents), the clinician's roster
-- row, an appointment, or a holiday. Margins: an interval reaches back at most one idle
-- threshold (<= 1 day) and a local date is within 14 hours of its UTC date, so a change on UTC
-- date d touches local dates d-2 .. d+2; an appointment (<= 1440 min) touches d-1 .. d+2.
-- Inputs: extents_changed (clinician_id, event_date_utc), extents_live, roster_now/prev,
--         schedule_now/prev, holidays_now/prev, days_prev (clinician_id, activity_date).
-- (Period rows are recomputed from the day table at every publication.)
-- Scope: planning
-- Materialized: table
with changed_extents as (select * from extents_changed),
live_extents as (select * from extents_live),
roster_now as (select * from stg_roster_now where reject_reason is null and not is_replaced),
roster_prev as (select * from stg_roster_prev where reject_reason is null and not is_replaced),
schedule_now as (select * from stg_schedule_now where is_counted),
schedule_prev as (select * from stg_schedule_prev where is_counted),
holidays_now as (select distinct holiday_date from stg_holidays_now where reject_reason is null),
holidays_prev as (select distinct holiday_date from stg_holidays_prev where reject_reason is null),
published as (select * from days_prev),

-- Every clinician-day that can exist now or existed at the last publication.
universe as (
    select distinct clinician_id, event_date_utc + offs as activity_date
    from live_extents, (select unnest([-2, -1, 0, 1, 2]) as offs)
    union
    select distinct clinician_id, start_date + offs
    from schedule_now, (select unnest([-1, 0, 1, 2]) as offs)
    union
    select clinician_id, activity_date from published
),

event_changes as (
    select distinct clinician_id, event_date_utc + offs as activity_date
    from changed_extents, (select unnest([-2, -1, 0, 1, 2]) as offs)
),

appointment_changes as (
    select distinct clinician_id, start_date + offs as activity_date
    from (
        (select clinician_id, appointment_id, start_at, end_at, start_date from schedule_now
         except
         select clinician_id, appointment_id, start_at, end_at, start_date from schedule_prev)
        union all
        (select clinician_id, appointment_id, start_at, end_at, start_date from schedule_prev
         except
         select clinician_id, appointment_id, start_at, end_at, start_date from schedule_now)
    ), (select unnest([-1, 0, 1, 2]) as offs)
),

roster_changes as (
    select clinician_id from (
        (select clinician_id, department, specialty, role, clinical_fte, timezone from roster_now
         except
         select clinician_id, department, specialty, role, clinical_fte, timezone from roster_prev)
        union all
        (select clinician_id, department, specialty, role, clinical_fte, timezone from roster_prev
         except
         select clinician_id, department, specialty, role, clinical_fte, timezone from roster_now)
    )
),

holiday_changes as (
    select holiday_date as activity_date from (
        (select holiday_date from holidays_now except select holiday_date from holidays_prev)
        union all
        (select holiday_date from holidays_prev except select holiday_date from holidays_now)
    )
)

select distinct clinician_id, activity_date from (
    select clinician_id, activity_date from event_changes
    union all
    select clinician_id, activity_date from appointment_changes
    union all
    select u.clinician_id, u.activity_date from universe u
    where u.clinician_id in (select clinician_id from roster_changes)
       or u.activity_date in (select activity_date from holiday_changes)
)
order by clinician_id, activity_date
