-- canonical_events_none
-- Grain: no rows: canonical_events when there is no events file to read (DuckDB reads no empty
-- list of files), with the lake's columns and types (wow_metrics.lake.EVENT_COLUMNS).
-- Scope: any step (build task, publication gate)
-- Materialized: table
select
    cast(null as VARCHAR) as source_file,
    cast(null as BIGINT) as source_line,
    cast(null as VARCHAR) as format,
    cast(null as VARCHAR) as clinician_id,
    cast(null as TIMESTAMPTZ) as event_at,
    cast(null as VARCHAR) as action,
    cast(null as VARCHAR) as report_name,
    cast(null as VARCHAR) as category_raw,
    cast(null as UBIGINT) as patient_key,
    cast(null as VARCHAR) as workstation_id,
    cast(null as BOOLEAN) as is_time_ambiguous,
    cast(null as INTEGER) as bucket
where false
