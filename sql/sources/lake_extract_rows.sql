-- lake_extract_rows
-- Grain: one row per ingested extract with events files in the lake (source_file: its path
-- under the landing folder): the rows its files hold (lake_file_rows, summed per extract).
-- The canonical_events contract reconciles them with the manifest.
-- Scope: publication
-- Materialized: table
-- Params: $lake_extract_rows (one struct per extract: wow_metrics.validate)
select unnest(cast($lake_extract_rows as STRUCT(
    source_file VARCHAR,
    lake_rows BIGINT
)[]), recursive := true)
