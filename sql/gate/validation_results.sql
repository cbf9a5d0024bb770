-- validation_results
-- Grain: one row per contract check the publication gate ran on this publication (a GX
-- expectation or a DuckDB audit): table, check, severity, success, failing rows and a few
-- examples. validation_results' own contract is checked after it is written, by the same gate.
-- Scope: publication
-- Materialized: table
-- Params: $check_results (one struct per check, in the gate's order: wow_metrics.validate)
select unnest(cast($check_results as STRUCT(
    run_id VARCHAR,
    table_name VARCHAR,
    check_name VARCHAR,
    expectation VARCHAR,
    severity VARCHAR,
    success BOOLEAN,
    failing_rows BIGINT,
    observed_value VARCHAR,
    examples VARCHAR,
    checked_at TIMESTAMPTZ
)[]), recursive := true)
