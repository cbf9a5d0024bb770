-- days_prev
-- Grain: one row per clinician_id and activity_date of the last publication's day table.
-- Scope: planning
-- Materialized: table
-- Inputs: prev_pub (the current publication, attached read-only).
select clinician_id, activity_date from prev_pub.ehr_time_by_clinician_day
