-- ehr_time_by_clinician_period
-- Grain: one row per clinician_id and period_start (calendar month, or ISO week from Monday).
-- Day metrics summed, minutes as hours, and the SPEC 6 normalisations: per 8 scheduled hours
-- (Sinsky), per clinical FTE week, per scheduled day (Epic style). A ratio whose denominator is
-- zero or unknown is NULL, never zero. Per-FTE-week rates divide by the period's days the
-- organisation's data covers (coverage_days), never by calendar days without data: the latest
-- month of a nightly warehouse is always partial, and dividing it by the whole month would read
-- as an improvement.
-- Built on the assembled day table, so an incremental build only has to replace day rows.
-- Scope: publication
-- Materialized: table
-- Params: $period, $default_timezone
with days as (select * from ehr_time_by_clinician_day),
coverage as (select * from coverage_by_date),
roster as (select * from stg_roster where reject_reason is null and not is_replaced),

periods as (
    select
        *,
        wow_period_start(activity_date, $period) as period_start
    from days
),

summed as (
    select
        clinician_id,
        period_start,
        count(*) filter (where ehr_minutes > 0) as days_active,
        count(*) filter (where appointments > 0) as scheduled_days,
        sum(appointments) as appointments,
        sum(events) as events,
        sum(scheduled_minutes) / 60 as scheduled_hours,
        sum(ehr_minutes) / 60 as ehr_hours,
        sum(inbox_minutes) / 60 as inbox_hours,
        sum(notes_minutes) / 60 as notes_hours,
        sum(orders_minutes) / 60 as orders_hours,
        sum(chart_review_minutes) / 60 as chart_review_hours,
        sum(other_minutes) / 60 as other_hours,
        sum(prescriptions_minutes) / 60 as prescriptions_hours,
        sum(in_schedule_minutes) / 60 as in_schedule_hours,
        sum(wow_minutes) / 60 as wow_hours,
        sum(outside_schedule_window_minutes) / 60 as outside_schedule_window_hours,
        sum(unscheduled_day_minutes) / 60 as unscheduled_day_hours,
        sum(pajama_minutes) / 60 as pajama_hours
    from periods
    group by clinician_id, period_start
),

covered as (
    select period_start, count(*) as coverage_days from coverage group by period_start
),

framed as (
    select
        s.*,
        coalesce(c.coverage_days, 0) as coverage_days,
        r.department, r.specialty, r.role, r.clinical_fte,
        coalesce(r.timezone, $default_timezone) as timezone,
        case when $period = 'week' then 7
             else (s.period_start + interval 1 month)::DATE - s.period_start end as period_days
    from summed s
    left join roster r using (clinician_id)
    left join covered c using (period_start)
)

select
    clinician_id::VARCHAR as clinician_id,
    coalesce(department, 'unknown')::VARCHAR as department,
    specialty::VARCHAR as specialty,
    role::VARCHAR as role,
    clinical_fte::DOUBLE as clinical_fte,
    timezone::VARCHAR as timezone,
    period_start::DATE as period_start,
    period_days::INTEGER as period_days,
    coverage_days::INTEGER as coverage_days,
    (coverage_days = period_days)::BOOLEAN as is_complete_period,
    days_active::BIGINT as days_active,
    scheduled_days::BIGINT as scheduled_days,
    appointments::BIGINT as appointments,
    events::BIGINT as events,
    scheduled_hours::DOUBLE as scheduled_hours,
    ehr_hours::DOUBLE as ehr_hours,
    inbox_hours::DOUBLE as inbox_hours,
    notes_hours::DOUBLE as notes_hours,
    orders_hours::DOUBLE as orders_hours,
    chart_review_hours::DOUBLE as chart_review_hours,
    other_hours::DOUBLE as other_hours,
    prescriptions_hours::DOUBLE as prescriptions_hours,
    in_schedule_hours::DOUBLE as in_schedule_hours,
    wow_hours::DOUBLE as wow_hours,
    outside_schedule_window_hours::DOUBLE as outside_schedule_window_hours,
    unscheduled_day_hours::DOUBLE as unscheduled_day_hours,
    pajama_hours::DOUBLE as pajama_hours,
    (ehr_hours * 8 / nullif(scheduled_hours, 0))::DOUBLE as ehr_time8,
    (wow_hours * 8 / nullif(scheduled_hours, 0))::DOUBLE as wow8,
    (inbox_hours * 8 / nullif(scheduled_hours, 0))::DOUBLE as ib_time8,
    (notes_hours * 8 / nullif(scheduled_hours, 0))::DOUBLE as note_time8,
    (prescriptions_hours * 8 / nullif(scheduled_hours, 0))::DOUBLE as presc_time8,
    (orders_hours * 8 / nullif(scheduled_hours, 0))::DOUBLE as order_time8,
    (pajama_hours * 8 / nullif(scheduled_hours, 0))::DOUBLE as pajama_time8,
    (ehr_hours / (clinical_fte * nullif(coverage_days, 0) / 7))::DOUBLE as ehr_hours_per_fte_week,
    (wow_hours / (clinical_fte * nullif(coverage_days, 0) / 7))::DOUBLE as wow_hours_per_fte_week,
    (pajama_hours / (clinical_fte * nullif(coverage_days, 0) / 7))::DOUBLE as pajama_hours_per_fte_week,
    (inbox_hours / (clinical_fte * nullif(coverage_days, 0) / 7))::DOUBLE as inbox_hours_per_fte_week,
    (notes_hours / (clinical_fte * nullif(coverage_days, 0) / 7))::DOUBLE as notes_hours_per_fte_week,
    (ehr_hours * 60 / nullif(scheduled_days, 0))::DOUBLE as ehr_minutes_per_sched_day,
    (pajama_hours * 60 / nullif(scheduled_days, 0))::DOUBLE as pajama_minutes_per_sched_day,
    (inbox_hours * 60 / nullif(scheduled_days, 0))::DOUBLE as inbox_minutes_per_sched_day,
    (notes_hours * 60 / nullif(scheduled_days, 0))::DOUBLE as notes_minutes_per_sched_day,
    (outside_schedule_window_hours * 60 / nullif(scheduled_days, 0))::DOUBLE
        as outside_schedule_window_minutes_per_sched_day,
    (100 * (1 - in_schedule_hours / nullif(scheduled_hours, 0)))::DOUBLE as undivided_attention_pct
from framed
order by clinician_id, period_start
