-- scope_windows
-- Grain: one row per clinician_id in an incremental build's scope: the first and last UTC date
-- of the events its build task reads (3 days either side of the days it rebuilds: enough for
-- every interval that reaches into them).
-- Scope: partition
-- Materialized: table
-- Inputs: build_scope (the planned clinician-days).
select clinician_id, min(activity_date) - 3 as first_date, max(activity_date) + 3 as last_date
from build_scope group by clinician_id
