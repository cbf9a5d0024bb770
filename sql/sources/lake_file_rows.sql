-- lake_file_rows
-- Grain: one row per live events file of the lake (file_name under lake/events/, e.g.
-- bucket=03/<sha>.parquet): its rows, from its Parquet footer or, unchanged since the last
-- publication's gate read it, from that gate's count; with the size and modification time
-- the count was taken at. Saved with the state (wow_metrics.state.LAKE_FILE_ROWS).
-- Scope: publication
-- Materialized: table
-- Params: $lake_file_rows (one struct per file, by file name: wow_metrics.validate)
select unnest(cast($lake_file_rows as STRUCT(
    file_name VARCHAR,
    rows BIGINT,
    size_bytes BIGINT,
    modified_ns BIGINT
)[]), recursive := true)
