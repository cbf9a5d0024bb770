-- audit_day_bounds
-- Scope: partition
-- Returns bad rows: day figures that break an invariant of SPEC 5. Categories sum to
-- ehr_minutes; wow, pajama, in-schedule and outside-window time never exceed it; prescriptions
-- never exceed orders; nothing exceeds the real length of the local day (23, 24 or 25 hours).
with days as (select * from ehr_time_by_clinician_day),
dates as (select * from int_clinician_dates)
select d.clinician_id, d.activity_date, d.ehr_minutes,
       (epoch_us(c.day_end_at) - epoch_us(c.day_start_at)) / 60e6 as day_length_minutes
from days d
join dates c using (clinician_id, activity_date)
where abs(d.inbox_minutes + d.notes_minutes + d.orders_minutes + d.chart_review_minutes
          + d.other_minutes - d.ehr_minutes) > 1e-6
   or d.wow_minutes > d.ehr_minutes + 1e-9 or d.wow_minutes < -1e-9
   or d.pajama_minutes > d.ehr_minutes + 1e-9
   or d.in_schedule_minutes > d.ehr_minutes + 1e-9
   or d.outside_schedule_window_minutes > d.ehr_minutes + 1e-9
   or d.prescriptions_minutes > d.orders_minutes + 1e-9
   or d.ehr_minutes > (epoch_us(c.day_end_at) - epoch_us(c.day_start_at)) / 60e6 + 1e-9
   or d.scheduled_minutes > (epoch_us(c.day_end_at) - epoch_us(c.day_start_at)) / 60e6 + 1e-9
   or least(d.ehr_minutes, d.scheduled_minutes, d.inbox_minutes, d.notes_minutes, d.orders_minutes,
            d.chart_review_minutes, d.other_minutes, d.pajama_minutes) < 0
