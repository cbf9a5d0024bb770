-- previous_ehr_time_by_clinician_day
-- Grain: one row per clinician_id and activity_date of the current publication's day table.
-- Run as previous_rows, while the current publication is attached as prev_pub.
-- Scope: publication
-- Materialized: view
select * from prev_pub.ehr_time_by_clinician_day
