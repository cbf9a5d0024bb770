-- lake_quarantine
-- Grain: one row per rejected row or whole file of a live lake extract: the rows of the lake's
-- quarantine files (in file-path order), then one row per live file that no declared format
-- reads (it has no lake file; its reason is its manifest message). The quarantine mart adds
-- the reference files' rejects.
-- Scope: publication
-- Materialized: table
-- Params: $unreadable_files (one struct per such file: wow_metrics.lake.Lake.unusable_quarantine_rows)
-- Inputs: lake_quarantine_files.
with file_rejects as (select * from lake_quarantine_files),
unreadable_files as (
    select unnest(cast($unreadable_files as STRUCT(
        source_file VARCHAR,
        source_line BIGINT,
        reason VARCHAR,
        clinician_id VARCHAR
    )[]), recursive := true)
)

select
    cast(source_file as VARCHAR) as source_file,
    cast(source_line as BIGINT) as source_line,
    cast(reason as VARCHAR) as reason,
    cast(clinician_id as VARCHAR) as clinician_id
from file_rejects
union all
select source_file, source_line, reason, clinician_id from unreadable_files
