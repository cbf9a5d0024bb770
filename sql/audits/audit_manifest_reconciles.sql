-- audit_manifest_reconciles
-- Scope: publication
-- Returns bad rows: a file whose rows do not reconcile (SPEC 9), or an ingested file whose
-- loaded rows differ from the rows on its clinicians' timelines.
with manifest as (select * from ingest_manifest),
event_counts as (select * from file_event_counts)
select m.file_path, m.rows_read, m.rows_loaded, m.rows_quarantined, m.rows_duplicate,
       m.rows_excluded, coalesce(e.rows_on_timeline, 0) as rows_on_timeline
from manifest m
left join (
    select source_file, sum(rows_on_timeline) as rows_on_timeline
    from event_counts group by source_file
) e on e.source_file = m.file_path
where m.status in ('ingested')
  and (m.rows_loaded < 0 or m.rows_quarantined < 0
       or (m.file_kind = 'audit_extract' and m.rows_loaded <> coalesce(e.rows_on_timeline, 0)))
