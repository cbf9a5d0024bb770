-- ingest_manifest
-- Grain: one row per input file version seen (audit extracts across all runs; reference files
-- as read this run). Row reconciliation (SPEC 9):
--   rows_read = rows_loaded + rows_quarantined + rows_duplicate + rows_excluded.
-- Duplicates and exclusions are counted on the whole lake, so a row repeated from an earlier
-- file counts as a duplicate of the later file.
-- Scope: publication
-- Materialized: table
with manifest as (select * from lake_manifest),
event_counts as (select * from file_event_counts),
reference_files as (select * from raw_reference_files),
reference_rejects as (select * from raw_reference_rejects),
roster as (select * from stg_roster),
schedule as (select * from stg_schedule),
holidays as (select * from stg_holidays),
action_map as (select * from stg_category_map where map_source = 'landing'),

file_counts as (
    select source_file, sum(rows_duplicate) as rows_duplicate, sum(rows_excluded) as rows_excluded
    from event_counts
    group by source_file
),

extracts as (
    select
        m.file_path, 'audit_extract' as file_kind, m.format, m.content_sha256, m.size_bytes,
        m.status, m.message, m.run_id, m.ingested_at,
        m.rows_read,
        m.rows_quarantined,
        -- Counts of a file whose rows are no longer in the lake (superseded, duplicate content)
        -- are NULL: they describe no published row.
        case when m.status in ('ingested', 'quarantined') then coalesce(c.rows_duplicate, 0) end
            as rows_duplicate,
        case when m.status in ('ingested', 'quarantined') then coalesce(c.rows_excluded, 0) end
            as rows_excluded
    from manifest m
    left join file_counts c on c.source_file = m.file_path and m.status = 'ingested'
),

reference_rows as (
    select source_file, reject_reason is not null as is_rejected, is_replaced as is_duplicate,
           false as is_excluded from roster
    union all
    select source_file, reject_reason is not null, is_replaced,
           reject_reason is null and not is_replaced and status = 'canceled' from schedule
    union all
    select source_file, reject_reason is not null, is_duplicate, false from holidays
    union all
    select source_file, reject_reason is not null, false, false from action_map
),

reference_counts as (
    select
        source_file,
        count(*) as rows_parsed,
        count(*) filter (where is_rejected) as rows_rejected,
        count(*) filter (where is_duplicate) as rows_duplicate,
        count(*) filter (where is_excluded) as rows_excluded
    from reference_rows
    group by source_file
),

reader_rejects as (
    select source_file, count(*) as rows_rejected
    from reference_rejects where source_line is not null
    group by source_file
),

reference_extracts as (
    select
        f.file_path, f.file_kind, null as format, f.content_sha256, f.size_bytes,
        f.status, f.message, f.run_id, f.ingested_at,
        coalesce(c.rows_parsed, 0) + coalesce(r.rows_rejected, 0) as rows_read,
        coalesce(c.rows_rejected, 0) + coalesce(r.rows_rejected, 0) as rows_quarantined,
        coalesce(c.rows_duplicate, 0) as rows_duplicate,
        coalesce(c.rows_excluded, 0) as rows_excluded
    from reference_files f
    left join reference_counts c on c.source_file = f.file_path
    left join reader_rejects r on r.source_file = f.file_path
)

select
    file_path::VARCHAR as file_path,
    file_kind::VARCHAR as file_kind,
    format::VARCHAR as format,
    content_sha256::VARCHAR as content_sha256,
    size_bytes::BIGINT as size_bytes,
    status::VARCHAR as status,
    rows_read::BIGINT as rows_read,
    (rows_read - rows_quarantined - rows_duplicate - rows_excluded)::BIGINT as rows_loaded,
    rows_quarantined::BIGINT as rows_quarantined,
    rows_duplicate::BIGINT as rows_duplicate,
    rows_excluded::BIGINT as rows_excluded,
    message::VARCHAR as message,
    run_id::VARCHAR as run_id,
    ingested_at::TIMESTAMPTZ as ingested_at
from (select * from extracts union all by name select * from reference_extracts)
order by file_kind, file_path, ingested_at
