-- lake_extents_none
-- Grain: no rows: lake_extents when no extract has an extents file (DuckDB reads no empty
-- list of files), with the same columns and types.
-- Scope: planning
-- Materialized: table
select
    cast(null as VARCHAR) as clinician_id,
    cast(null as INTEGER) as bucket,
    cast(null as DATE) as event_date_utc,
    cast(null as BIGINT) as events,
    cast(null as VARCHAR) as sha
where false
