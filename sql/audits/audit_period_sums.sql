-- audit_period_sums
-- Scope: publication
-- Returns bad rows: a clinician-period whose hours are not the sum of its days.
with days as (select * from ehr_time_by_clinician_day),
periods as (select * from ehr_time_by_clinician_period),
summed as (
    select clinician_id,
           wow_period_start(activity_date, $period) as period_start,
           sum(ehr_minutes) / 60 as ehr_hours, sum(wow_minutes) / 60 as wow_hours,
           sum(events) as events
    from days group by all
)
select p.clinician_id, p.period_start, p.ehr_hours, s.ehr_hours as days_ehr_hours
from periods p
full join summed s using (clinician_id, period_start)
where s.clinician_id is null or p.clinician_id is null
   or abs(p.ehr_hours - s.ehr_hours) > 1e-6 or abs(p.wow_hours - s.wow_hours) > 1e-6
   or p.events <> s.events
