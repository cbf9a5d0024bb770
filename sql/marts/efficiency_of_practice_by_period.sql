-- efficiency_of_practice_by_period
-- Grain: one row per period_start (SPEC 8).
-- The organisation's figures for the AMA Joy in Medicine efficiency-of-practice domain, over the
-- eligible clinicians of the period (scheduled_hours >= min_scheduled_hours): medians of WOW8,
-- EHR-Time8, and WOW, pajama and inbox hours per clinical-FTE week; the share of clinicians (with
-- an FTE) whose WOW exceeds wow_threshold_hours_per_fte_week; and each figure's change from the
-- previous period (this period minus the one just before). A change is computed only between
-- two complete periods (SPEC 8): a partial period's medians are over part of a month, and the
-- latest period of a nightly warehouse is always partial. NULL too when the previous period
-- has no row or either figure is NULL. The period's coverage (the dates the organisation's
-- data covers, SPEC 6) and its gap days (dates inside the coverage without a single event: a
-- missed extract) say how far the figures can be read. Suppressed like a department cell under
-- min_cell_size clinicians.
-- Scope: publication
-- Materialized: table
-- Params: $min_cell_size, $min_scheduled_hours, $wow_threshold_hours_per_fte_week, $period
with periods as (select * from ehr_time_by_clinician_period),
coverage as (select * from coverage_by_date),

covered as (
    select period_start, count(*) as coverage_days, min(activity_date) as coverage_start,
           max(activity_date) as coverage_end, count(*) filter (where is_gap) as gap_days
    from coverage
    group by period_start
),

measured as (
    select period_start, any_value(period_days) as period_days,
           count(*) as n_clinicians_measured
    from periods
    group by period_start
),

org as (
    select
        period_start,
        count(*) as n_clinicians,
        median(wow8) as wow8_median,
        median(ehr_time8) as ehr_time8_median,
        median(wow_hours_per_fte_week) as wow_hours_per_fte_week_median,
        median(pajama_hours_per_fte_week) as pajama_hours_per_fte_week_median,
        median(inbox_hours_per_fte_week) as inbox_hours_per_fte_week_median,
        100.0 * count(*) filter (where wow_hours_per_fte_week > $wow_threshold_hours_per_fte_week)
            / nullif(count(wow_hours_per_fte_week), 0) as pct_clinicians_wow_over_threshold
    from periods
    where scheduled_hours >= $min_scheduled_hours
    group by period_start
),

figures as (
    select m.period_start, m.period_days,
           coalesce(c.coverage_days, 0) as coverage_days,
           coalesce(c.coverage_days, 0) = m.period_days as is_complete_period,
           c.coverage_start, c.coverage_end, coalesce(c.gap_days, 0) as gap_days,
           m.n_clinicians_measured,
           coalesce(o.n_clinicians, 0) as n_clinicians,
           coalesce(o.n_clinicians, 0) < $min_cell_size as is_suppressed,
           o.* exclude (period_start, n_clinicians)
    from measured m
    left join org o using (period_start)
    left join covered c using (period_start)
),

shown as (
    select period_start, period_days, coverage_days, is_complete_period, coverage_start,
           coverage_end, gap_days, n_clinicians_measured, n_clinicians, is_suppressed,
           case when not is_suppressed then wow8_median end as wow8_median,
           case when not is_suppressed then ehr_time8_median end as ehr_time8_median,
           case when not is_suppressed then wow_hours_per_fte_week_median end
               as wow_hours_per_fte_week_median,
           case when not is_suppressed then pajama_hours_per_fte_week_median end
               as pajama_hours_per_fte_week_median,
           case when not is_suppressed then inbox_hours_per_fte_week_median end
               as inbox_hours_per_fte_week_median,
           case when not is_suppressed then pct_clinicians_wow_over_threshold end
               as pct_clinicians_wow_over_threshold
    from figures
)

select
    cur.period_start::DATE as period_start,
    cur.period_days::INTEGER as period_days,
    cur.coverage_days::INTEGER as coverage_days,
    cur.is_complete_period::BOOLEAN as is_complete_period,
    cur.coverage_start::DATE as coverage_start,
    cur.coverage_end::DATE as coverage_end,
    cur.gap_days::INTEGER as gap_days,
    cur.n_clinicians_measured::BIGINT as n_clinicians_measured,
    cur.n_clinicians::BIGINT as n_clinicians,
    cur.is_suppressed::BOOLEAN as is_suppressed,
    ($wow_threshold_hours_per_fte_week)::DOUBLE as wow_threshold_hours_per_fte_week,
    cur.wow8_median::DOUBLE as wow8_median,
    cur.ehr_time8_median::DOUBLE as ehr_time8_median,
    cur.wow_hours_per_fte_week_median::DOUBLE as wow_hours_per_fte_week_median,
    cur.pajama_hours_per_fte_week_median::DOUBLE as pajama_hours_per_fte_week_median,
    cur.inbox_hours_per_fte_week_median::DOUBLE as inbox_hours_per_fte_week_median,
    cur.pct_clinicians_wow_over_threshold::DOUBLE as pct_clinicians_wow_over_threshold,
    prev.period_start::DATE as previous_period_start,
    (case when both_complete then cur.wow8_median - prev.wow8_median end)::DOUBLE
        as wow8_median_change,
    (case when both_complete then cur.ehr_time8_median - prev.ehr_time8_median end)::DOUBLE
        as ehr_time8_median_change,
    (case when both_complete then cur.wow_hours_per_fte_week_median - prev.wow_hours_per_fte_week_median end)::DOUBLE
        as wow_hours_per_fte_week_median_change,
    (case when both_complete then cur.pajama_hours_per_fte_week_median - prev.pajama_hours_per_fte_week_median end)::DOUBLE
        as pajama_hours_per_fte_week_median_change,
    (case when both_complete then cur.inbox_hours_per_fte_week_median - prev.inbox_hours_per_fte_week_median end)::DOUBLE
        as inbox_hours_per_fte_week_median_change,
    (case when both_complete then cur.pct_clinicians_wow_over_threshold - prev.pct_clinicians_wow_over_threshold end)::DOUBLE
        as pct_clinicians_wow_over_threshold_change
from shown cur
left join shown prev
    on prev.period_start = wow_period_start((cur.period_start - 1)::DATE, $period),
lateral (select coalesce(cur.is_complete_period and prev.is_complete_period, false)
         as both_complete)
order by cur.period_start
