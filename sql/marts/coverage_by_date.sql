-- coverage_by_date
-- Grain: one row per activity_date from the organisation's first to its last local date on
-- which any clinician has an event (SPEC 6: the organisation's coverage).
-- The dates the audit data covers, and how much of it each date holds. A date inside the
-- coverage on which no clinician has a single event (`is_gap`) is a missed extract, not a quiet
-- day: a whole organisation is never silent for a day while the days around it have data. Its
-- period's totals are short by that day; the dashboard and validation_results say so.
-- Scope: publication
-- Materialized: table
-- Params: $period
with days as (select * from ehr_time_by_clinician_day),

with_events as (
    select activity_date, sum(events) as events, count(*) as clinicians_with_events
    from days
    where events > 0
    group by activity_date
),

bounds as (
    select min(activity_date) as first_date, max(activity_date) as last_date from with_events
),

dates as (
    select unnest(generate_series(first_date, last_date, interval 1 day))::DATE as activity_date
    from bounds
    where first_date is not null
)

select
    d.activity_date::DATE as activity_date,
    wow_period_start(d.activity_date, $period)::DATE as period_start,
    coalesce(e.events, 0)::BIGINT as events,
    coalesce(e.clinicians_with_events, 0)::BIGINT as clinicians_with_events,
    (e.activity_date is null)::BOOLEAN as is_gap
from dates d
left join with_events e using (activity_date)
order by activity_date
