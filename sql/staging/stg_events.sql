-- stg_events
-- Grain: one row per event row in the lake (every live ingested extract).
-- Gives each event its category and prescription flag from the action map (SPEC 3) and flags
-- duplicates (same clinician, instant, action, report, patient and workstation: the first in
-- file-name then line order is kept, SPEC 4) and excluded system events.
-- Scope: partition
-- Materialized: table
with events as (select * from lake_events),
action_map as (select * from stg_category_map where is_effective),

mapped as (
    select
        e.*,
        coalesce(e.category_raw, exact.category, any_report.category, 'other') as category,
        case
            when e.category_raw is not null then false
            else coalesce(exact.is_prescription, any_report.is_prescription, false)
        end as is_prescription,
        -- The duplicate key hashed: a cheap first pass finds the few keys seen more than once.
        -- (patient_key is the lake's 64-bit pseudonym; NULL, no patient, is a value of its own
        -- in both the hash and the partition.)
        hash(e.clinician_id, e.event_at, e.action, e.report_name, e.patient_key,
             e.workstation_id) as dup_hash
    from events e
    left join action_map exact
        on exact.format = e.format
        and exact.action_key = lower(e.action)
        and exact.report_name_key = lower(e.report_name)
    left join action_map any_report
        on any_report.format = e.format
        and any_report.action_key = lower(e.action)
        and any_report.report_name_key = ''
),

repeated as (
    select dup_hash from mapped group by dup_hash having count(*) > 1
),

flagged as (
    -- A key seen once is no duplicate. Rows sharing a hash (real duplicates, and any hash
    -- collision) are compared on the key itself.
    select * exclude (dup_hash), false as is_duplicate
    from mapped anti join repeated using (dup_hash)
    union all
    select
        * exclude (dup_hash),
        row_number() over (
            partition by clinician_id, event_at, action, report_name,
                         patient_key, workstation_id
            order by source_file, source_line
        ) > 1 as is_duplicate
    from mapped semi join repeated using (dup_hash)
)

-- The columns later models use (the patient key served only to find duplicates).
select
    source_file, source_line, clinician_id, event_at, action, report_name,
    category, is_prescription, workstation_id,
    is_duplicate,
    not is_duplicate and category = 'exclude' as is_excluded
from flagged
