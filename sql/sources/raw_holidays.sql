-- raw_holidays
-- Grain: one row per data line of reference/holidays.csv, as read: every field VARCHAR (absent
-- columns NULL), with its file and physical line. stg_holidays checks them.
-- Declared empty here, then filled by the file if there is one (reference_csv_rows). date is
-- required of the file (wow_metrics.reference.REQUIRED_COLUMNS), name may be absent.
-- Scope: reference
-- Materialized: table
select
    null::VARCHAR as source_file,
    null::BIGINT as source_line,
    null::VARCHAR as date,
    null::VARCHAR as name
where false
