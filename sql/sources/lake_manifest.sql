-- lake_manifest
-- Grain: one row per input file version the lake's manifest records (lake/manifest.parquet,
-- every run's extracts: ingested, quarantined, duplicate content or superseded), with its
-- digest, row counts and how it was read. ingest_manifest reconciles it.
-- Scope: publication
-- Materialized: table
-- Params: $manifest_rows (the manifest's rows: wow_metrics.lake.Lake.load_manifest, whose
--         writer's schema is wow_metrics.lake.MANIFEST_SCHEMA; a field an older manifest lacks
--         is NULL)
select unnest(cast($manifest_rows as STRUCT(
    file_path VARCHAR,
    format VARCHAR,
    content_sha256 VARCHAR,
    size_bytes BIGINT,
    mtime_ns BIGINT,
    status VARCHAR,
    rows_read BIGINT,
    rows_quarantined BIGINT,
    rows_written BIGINT,
    message VARCHAR,
    run_id VARCHAR,
    ingested_at TIMESTAMPTZ,
    default_timezone VARCHAR,
    key_fingerprint VARCHAR,
    format_fingerprint VARCHAR
)[]), recursive := true)
