-- raw_reference_rejects
-- Grain: one row per line of a reference file that its reader could not take (a broken CSV
-- record), or per reference file quarantined whole (source_line NULL), with the reason.
-- (Rows read but refused by a staging model's checks are that model's reject_reason.)
-- Scope: reference
-- Materialized: table
-- Params: $reference_rejects (one struct per rejected line or file, in the order they were met)
select unnest(cast($reference_rejects as STRUCT(
    source_file VARCHAR,
    source_line BIGINT,
    reason VARCHAR
)[]), recursive := true)
