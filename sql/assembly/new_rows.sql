-- new_rows
-- Grain: one row per clinician_id and activity_date an incremental build rebuilt, of one table
-- assembled for publication, read from its build tasks' Parquet files.
-- Scope: publication
-- Materialized: view
-- Params: $partition_files
select * from read_parquet($partition_files)
