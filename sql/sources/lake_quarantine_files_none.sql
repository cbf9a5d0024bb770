-- lake_quarantine_files_none
-- Grain: no rows: lake_quarantine_files when no live extract has a quarantine file (DuckDB
-- reads no empty list of files), with the same columns and types.
-- Scope: publication
-- Materialized: table
select
    cast(null as VARCHAR) as source_file,
    cast(null as BIGINT) as source_line,
    cast(null as VARCHAR) as reason,
    cast(null as VARCHAR) as clinician_id
where false
