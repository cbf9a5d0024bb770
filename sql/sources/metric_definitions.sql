-- metric_definitions
-- Grain: one row per setting that can move a figure and per metric definition, as this run
-- used them (published as is). The texts are stated in wow_metrics.definitions, with the
-- settings filled in.
-- Scope: reference
-- Materialized: table
-- Params: $metric_definitions (one struct per row: wow_metrics.definitions.metric_definition_rows)
select unnest(cast($metric_definitions as STRUCT(
    kind VARCHAR,
    name VARCHAR,
    value VARCHAR,
    unit VARCHAR,
    definition VARCHAR,
    run_id VARCHAR
)[]), recursive := true)
