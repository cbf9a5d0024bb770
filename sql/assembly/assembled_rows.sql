-- assembled_rows
-- Grain: one row per clinician_id and activity_date (per source file for file_event_counts)
-- of one table assembled for publication by an incremental build: every row of the previous
-- publication outside the build scope, and the rows rebuilt within it. Run as that table.
-- The result equals a full rebuild's (tests/unit/test_incremental.py).
-- Scope: publication
-- Materialized: table
-- Inputs: previous_rows, new_rows (views of this table), build_scope.
with previous as (select * from previous_rows),
rebuilt as (select * from new_rows),
scope as (select * from build_scope),

kept as (
    select * from previous
    where (clinician_id, activity_date) not in (select (clinician_id, activity_date) from scope)
)

select * from (select * from kept union all by name select * from rebuilt) order by all
