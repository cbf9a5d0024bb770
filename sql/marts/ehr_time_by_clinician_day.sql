-- ehr_time_by_clinician_day
-- Grain: one row per clinician_id and local activity_date with an event or scheduled time.
-- Every column of SPEC 5, exact to the microsecond: sums run in integer microseconds and are
-- turned into DOUBLE minutes only here. A date that holds active time but neither an event
-- nor scheduled time (possible only with an idle threshold near a day) also gets a row, so
-- that no active time is lost from the day table (docs/decisions.md).
-- Scope: partition
-- Materialized: table
with pieces as (select * from int_activity_pieces),
segments as (select * from int_calendar_segments),
dates as (select * from int_clinician_dates),

activity as (
    select
        clinician_id,
        activity_date,
        count(*) filter (where is_event_start) as events,
        coalesce(sum(piece_us) filter (where is_active), 0) as ehr_us,
        coalesce(sum(piece_us) filter (where is_active and category = 'inbox'), 0) as inbox_us,
        coalesce(sum(piece_us) filter (where is_active and category = 'notes'), 0) as notes_us,
        coalesce(sum(piece_us) filter (where is_active and category = 'orders'), 0) as orders_us,
        coalesce(sum(piece_us) filter (where is_active and category = 'chart_review'), 0) as chart_review_us,
        coalesce(sum(piece_us) filter (where is_active and category = 'other'), 0) as other_us,
        coalesce(sum(piece_us) filter (where is_active and is_prescription), 0) as prescriptions_us,
        coalesce(sum(piece_us) filter (where is_active and is_scheduled), 0) as in_schedule_us,
        coalesce(sum(piece_us) filter (where is_active and not is_in_window), 0) as outside_window_us,
        coalesce(sum(piece_us) filter (where is_active and is_pajama), 0) as pajama_us
    from pieces
    group by clinician_id, activity_date
),

scheduled as (
    select clinician_id, activity_date, sum(segment_us) as scheduled_us
    from segments
    where is_scheduled
    group by clinician_id, activity_date
),

day_rows as (
    select
        d.clinician_id,
        d.activity_date,
        coalesce(a.events, 0) as events,
        d.appointments,
        coalesce(s.scheduled_us, 0) as scheduled_us,
        coalesce(a.ehr_us, 0) as ehr_us,
        coalesce(a.inbox_us, 0) as inbox_us,
        coalesce(a.notes_us, 0) as notes_us,
        coalesce(a.orders_us, 0) as orders_us,
        coalesce(a.chart_review_us, 0) as chart_review_us,
        coalesce(a.other_us, 0) as other_us,
        coalesce(a.prescriptions_us, 0) as prescriptions_us,
        coalesce(a.in_schedule_us, 0) as in_schedule_us,
        coalesce(a.outside_window_us, 0) as outside_window_us,
        coalesce(a.pajama_us, 0) as pajama_us,
        d.is_holiday,
        d.is_weekend
    from dates d
    left join activity a using (clinician_id, activity_date)
    left join scheduled s using (clinician_id, activity_date)
    where coalesce(a.events, 0) > 0 or coalesce(s.scheduled_us, 0) > 0 or coalesce(a.ehr_us, 0) > 0
)

select
    clinician_id::VARCHAR as clinician_id,
    activity_date::DATE as activity_date,
    events::BIGINT as events,
    appointments::BIGINT as appointments,
    (scheduled_us / 60e6)::DOUBLE as scheduled_minutes,
    (ehr_us / 60e6)::DOUBLE as ehr_minutes,
    (inbox_us / 60e6)::DOUBLE as inbox_minutes,
    (notes_us / 60e6)::DOUBLE as notes_minutes,
    (orders_us / 60e6)::DOUBLE as orders_minutes,
    (chart_review_us / 60e6)::DOUBLE as chart_review_minutes,
    (other_us / 60e6)::DOUBLE as other_minutes,
    (prescriptions_us / 60e6)::DOUBLE as prescriptions_minutes,
    (in_schedule_us / 60e6)::DOUBLE as in_schedule_minutes,
    ((ehr_us - in_schedule_us) / 60e6)::DOUBLE as wow_minutes,
    (outside_window_us / 60e6)::DOUBLE as outside_schedule_window_minutes,
    (case when appointments = 0 then ehr_us else 0 end / 60e6)::DOUBLE as unscheduled_day_minutes,
    (pajama_us / 60e6)::DOUBLE as pajama_minutes,
    is_holiday::BOOLEAN as is_holiday,
    is_weekend::BOOLEAN as is_weekend
from day_rows
order by clinician_id, activity_date
