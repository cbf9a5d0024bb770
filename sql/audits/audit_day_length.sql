-- audit_day_length
-- Scope: partition
-- Returns bad rows: a clinician-day whose active or scheduled minutes exceed the real length of
-- its local day (23, 24 or 25 hours, SPEC 5). Only the build sees the day's bounds
-- (int_clinician_dates); every other rule on the day table is an invariant of its contract
-- (schemas/contracts/ehr_time_by_clinician_day.yml), checked by the publication gate.
with days as (select * from ehr_time_by_clinician_day),
dates as (select * from int_clinician_dates)
select d.clinician_id, d.activity_date, d.ehr_minutes, d.scheduled_minutes,
       (epoch_us(c.day_end_at) - epoch_us(c.day_start_at)) / 60e6 as day_length_minutes
from days d
join dates c using (clinician_id, activity_date)
where d.ehr_minutes > (epoch_us(c.day_end_at) - epoch_us(c.day_start_at)) / 60e6 + 1e-9
   or d.scheduled_minutes > (epoch_us(c.day_end_at) - epoch_us(c.day_start_at)) / 60e6 + 1e-9
