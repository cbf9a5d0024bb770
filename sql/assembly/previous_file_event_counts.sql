-- previous_file_event_counts
-- Grain: one row per source file, clinician_id and activity_date of the event counts the
-- current publication was built with (saved with its state). Run as previous_rows.
-- Scope: publication
-- Materialized: view
-- Params: $previous_file (state/file_event_counts.parquet)
select * from read_parquet($previous_file)
