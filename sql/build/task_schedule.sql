-- task_schedule
-- Grain: one row per staged schedule row (stg_schedule of the reference step) of a clinician in
-- a build task's buckets. Schedule rows are staged once for the run (an appointment_id's
-- replacement crosses clinicians); each task keeps its own clinicians'. Run as stg_schedule
-- by a full build; an incremental build keeps the rows within its scope's windows
-- (task_schedule_in_scope).
-- Scope: partition
-- Materialized: table
-- Params: $schedule_file (the staged stg_schedule Parquet), $buckets (the task's buckets)
select * from read_parquet($schedule_file)
where wow_clinician_bucket(clinician_id) in (select unnest($buckets))
