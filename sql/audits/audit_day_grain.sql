-- audit_day_grain
-- Scope: publication
-- Returns bad rows: a (clinician_id, activity_date) that is not unique or has a NULL key.
select clinician_id, activity_date, count(*) as n_rows
from ehr_time_by_clinician_day
group by clinician_id, activity_date
having count(*) > 1 or clinician_id is null or activity_date is null
