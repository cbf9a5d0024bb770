-- quarantine
-- Grain: one row per rejected input row (or per rejected whole file, source_line NULL).
-- Every row that did not make it into a table, with the file, line and reason (SPEC 9).
-- Scope: publication
-- Materialized: table
with extract_rejects as (select * from lake_quarantine),
reference_rejects as (select * from raw_reference_rejects),
roster as (select * from stg_roster where reject_reason is not null),
schedule as (select * from stg_schedule where reject_reason is not null),
holidays as (select * from stg_holidays where reject_reason is not null),
action_map as (select * from stg_category_map where reject_reason is not null)

select source_file::VARCHAR as source_file, source_line::BIGINT as source_line,
       reason::VARCHAR as reason, clinician_id::VARCHAR as clinician_id
from (
    select source_file, source_line, reason, clinician_id from extract_rejects
    union all select source_file, source_line, reason, null from reference_rejects
    union all select source_file, source_line, reject_reason, clinician_id from roster
    union all select source_file, source_line, reject_reason, clinician_id from schedule
    union all select source_file, source_line, reject_reason, null from holidays
    union all select source_file, source_line, reject_reason, null from action_map
)
order by source_file, source_line nulls first
