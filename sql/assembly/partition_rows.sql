-- partition_rows
-- Grain: one row per clinician_id and activity_date built by this run's build tasks, of one
-- table assembled for publication (ehr_time_by_clinician_day or file_event_counts): a full
-- build's whole table. Run as that table.
-- Scope: publication
-- Materialized: table
-- Params: $partition_files (the build tasks' Parquet files of the table, in task order)
select * from read_parquet($partition_files) order by all
