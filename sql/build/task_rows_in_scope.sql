-- task_rows_in_scope
-- Grain: one row per clinician_id and activity_date (per source file too, for the event counts)
-- of one output of an incremental build task (ehr_time_by_clinician_day or
-- int_file_event_counts) on a clinician-day in the build's scope: the rows it rebuilt. The
-- days around them, read for the intervals that reach into them, are not kept. A full build's
-- task keeps its outputs whole.
-- Scope: partition
-- Materialized: table
-- Params: $task_output (the output model's name)
-- Inputs: that model's table, build_scope.
select * from query_table($task_output)
where (clinician_id, activity_date) in (select (clinician_id, activity_date) from build_scope)
