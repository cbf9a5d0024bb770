-- raw_reference_files
-- Grain: one row per reference file found in the landing zone this run (roster, schedule,
-- holidays, action map), read or quarantined whole, with its digest, size and why it was
-- quarantined. ingest_manifest reconciles its rows.
-- Scope: reference
-- Materialized: table
-- Params: $reference_files (one struct per file, in the order they were read: found by
--         wow_metrics.reference.load_reference)
select unnest(cast($reference_files as STRUCT(
    file_path VARCHAR,
    file_kind VARCHAR,
    content_sha256 VARCHAR,
    size_bytes BIGINT,
    status VARCHAR,
    message VARCHAR,
    run_id VARCHAR,
    ingested_at TIMESTAMPTZ
)[]), recursive := true)
