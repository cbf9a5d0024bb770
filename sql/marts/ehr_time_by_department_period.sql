-- ehr_time_by_department_period
-- Grain: one row per department and period_start (SPEC 8).
-- The spread of the Sinsky core metrics across a department's eligible clinicians: those whose
-- clinician-period has at least min_scheduled_hours of scheduled time (SPEC 2). For each metric,
-- p25, median and p75 with quantile_cont over the clinicians that have the metric (a clinician
-- without a clinical FTE has no per-FTE figure). A cell over fewer than min_cell_size eligible
-- clinicians is suppressed: its figures are NULL and is_suppressed is true (SPEC 7). The
-- period's coverage is the organisation's (SPEC 6), the same for every department.
-- Scope: publication
-- Materialized: table
-- Params: $min_cell_size, $min_scheduled_hours
with periods as (select * from ehr_time_by_clinician_period),

measured as (
    select department, period_start, any_value(period_days) as period_days,
           any_value(coverage_days) as coverage_days,
           count(*) as n_clinicians_measured
    from periods
    group by department, period_start
),

eligible as (
    select * from periods where scheduled_hours >= $min_scheduled_hours
),

spread as (
    select
        department,
        period_start,
        count(*) as n_clinicians,
        quantile_cont(ehr_time8, 0.25) as ehr_time8_p25,
        quantile_cont(ehr_time8, 0.5) as ehr_time8_median,
        quantile_cont(ehr_time8, 0.75) as ehr_time8_p75,
        quantile_cont(wow8, 0.25) as wow8_p25,
        quantile_cont(wow8, 0.5) as wow8_median,
        quantile_cont(wow8, 0.75) as wow8_p75,
        quantile_cont(ib_time8, 0.25) as ib_time8_p25,
        quantile_cont(ib_time8, 0.5) as ib_time8_median,
        quantile_cont(ib_time8, 0.75) as ib_time8_p75,
        quantile_cont(note_time8, 0.25) as note_time8_p25,
        quantile_cont(note_time8, 0.5) as note_time8_median,
        quantile_cont(note_time8, 0.75) as note_time8_p75,
        quantile_cont(pajama_time8, 0.25) as pajama_time8_p25,
        quantile_cont(pajama_time8, 0.5) as pajama_time8_median,
        quantile_cont(pajama_time8, 0.75) as pajama_time8_p75,
        quantile_cont(wow_hours_per_fte_week, 0.25) as wow_hours_per_fte_week_p25,
        quantile_cont(wow_hours_per_fte_week, 0.5) as wow_hours_per_fte_week_median,
        quantile_cont(wow_hours_per_fte_week, 0.75) as wow_hours_per_fte_week_p75
    from eligible
    group by department, period_start
),

joined as (
    select m.department, m.period_start, m.period_days, m.coverage_days,
           m.n_clinicians_measured,
           coalesce(s.n_clinicians, 0) as n_clinicians,
           coalesce(s.n_clinicians, 0) < $min_cell_size as is_suppressed,
           s.* exclude (department, period_start, n_clinicians)
    from measured m
    left join spread s using (department, period_start)
)

select
    department::VARCHAR as department,
    period_start::DATE as period_start,
    period_days::INTEGER as period_days,
    coverage_days::INTEGER as coverage_days,
    (coverage_days = period_days)::BOOLEAN as is_complete_period,
    n_clinicians_measured::BIGINT as n_clinicians_measured,
    n_clinicians::BIGINT as n_clinicians,
    is_suppressed::BOOLEAN as is_suppressed,
    (case when not is_suppressed then ehr_time8_p25 end)::DOUBLE as ehr_time8_p25,
    (case when not is_suppressed then ehr_time8_median end)::DOUBLE as ehr_time8_median,
    (case when not is_suppressed then ehr_time8_p75 end)::DOUBLE as ehr_time8_p75,
    (case when not is_suppressed then wow8_p25 end)::DOUBLE as wow8_p25,
    (case when not is_suppressed then wow8_median end)::DOUBLE as wow8_median,
    (case when not is_suppressed then wow8_p75 end)::DOUBLE as wow8_p75,
    (case when not is_suppressed then ib_time8_p25 end)::DOUBLE as ib_time8_p25,
    (case when not is_suppressed then ib_time8_median end)::DOUBLE as ib_time8_median,
    (case when not is_suppressed then ib_time8_p75 end)::DOUBLE as ib_time8_p75,
    (case when not is_suppressed then note_time8_p25 end)::DOUBLE as note_time8_p25,
    (case when not is_suppressed then note_time8_median end)::DOUBLE as note_time8_median,
    (case when not is_suppressed then note_time8_p75 end)::DOUBLE as note_time8_p75,
    (case when not is_suppressed then pajama_time8_p25 end)::DOUBLE as pajama_time8_p25,
    (case when not is_suppressed then pajama_time8_median end)::DOUBLE as pajama_time8_median,
    (case when not is_suppressed then pajama_time8_p75 end)::DOUBLE as pajama_time8_p75,
    (case when not is_suppressed then wow_hours_per_fte_week_p25 end)::DOUBLE as wow_hours_per_fte_week_p25,
    (case when not is_suppressed then wow_hours_per_fte_week_median end)::DOUBLE as wow_hours_per_fte_week_median,
    (case when not is_suppressed then wow_hours_per_fte_week_p75 end)::DOUBLE as wow_hours_per_fte_week_p75
from joined
order by department, period_start
