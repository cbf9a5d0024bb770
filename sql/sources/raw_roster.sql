-- raw_roster
-- Grain: one row per data line of reference/roster.csv, as read: every field VARCHAR (absent
-- columns NULL), with its file and physical line. stg_roster checks them.
-- Declared empty here, then filled file by file (reference_csv_rows). clinician_id is required
-- of the file (wow_metrics.reference.REQUIRED_COLUMNS); the other columns may be absent.
-- Scope: reference
-- Materialized: table
select
    null::VARCHAR as source_file,
    null::BIGINT as source_line,
    null::VARCHAR as clinician_id,
    null::VARCHAR as department,
    null::VARCHAR as specialty,
    null::VARCHAR as role,
    null::VARCHAR as clinical_fte,
    null::VARCHAR as timezone
where false
