-- canonical_events
-- Grain: one row per event of the lake's events files given (lake/events/bucket=NN/<sha>.parquet,
-- one per bucket of a live ingested extract), every column as the lake holds it: the layout
-- of wow_metrics.lake.LAYOUT, described by schemas/contracts/canonical_events.yml.
-- A build task reads its buckets' files (build/task_events.sql keeps the columns the models
-- use); the publication gate the files no earlier gate passed.
-- Scope: any step (build task, publication gate)
-- Materialized: view
-- Params: $lake_event_files (one or more events files; see canonical_events_none for none)
select * from read_parquet($lake_event_files, hive_partitioning = false)
