-- raw_schedule
-- Grain: one row per data line of reference/schedule/*.csv, as read: every field VARCHAR, with
-- its file and physical line. stg_schedule checks them.
-- Declared empty here, then filled file by file in file-name order (reference_csv_rows). Every
-- column is required of a file (wow_metrics.reference.REQUIRED_COLUMNS).
-- Scope: reference
-- Materialized: table
select
    null::VARCHAR as source_file,
    null::BIGINT as source_line,
    null::VARCHAR as clinician_id,
    null::VARCHAR as appointment_id,
    null::VARCHAR as start_time,
    null::VARCHAR as duration_minutes,
    null::VARCHAR as status
where false
