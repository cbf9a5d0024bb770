-- audit_manifest_matches_timelines
-- Scope: publication
-- Returns bad rows: an ingested audit extract whose loaded rows differ from the rows on its
-- clinicians' timelines (file_event_counts, a build table). The manifest's own reconciliation
-- (SPEC 9: read = loaded + quarantined + duplicate + excluded, none negative) is an invariant of
-- its contract (schemas/contracts/ingest_manifest.yml), checked by the publication gate.
with manifest as (select * from ingest_manifest),
event_counts as (select * from file_event_counts)
select m.file_path, m.rows_loaded, coalesce(e.rows_on_timeline, 0) as rows_on_timeline
from manifest m
left join (
    select source_file, sum(rows_on_timeline) as rows_on_timeline
    from event_counts group by source_file
) e on e.source_file = m.file_path
where m.status = 'ingested' and m.file_kind = 'audit_extract'
  and m.rows_loaded <> coalesce(e.rows_on_timeline, 0)
