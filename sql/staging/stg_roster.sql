-- stg_roster
-- Grain: one row per data line of reference/roster.csv.
-- Checks each row (SPEC 1.3); `reject_reason` says why a row goes to quarantine. When a
-- clinician_id appears on several good lines the last one wins (`is_replaced` on the others).
-- Scope: reference
-- Materialized: table
with raw as (select * from raw_roster),
zones as (select name from pg_timezone_names()),

cleaned as (
    select
        source_file, source_line,
        nullif(trim(clinician_id), '') as clinician_id,
        nullif(trim(department), '') as department,
        nullif(trim(specialty), '') as specialty,
        nullif(trim(role), '') as role,
        nullif(trim(clinical_fte), '') as clinical_fte_text,
        try_cast(nullif(trim(clinical_fte), '') as DOUBLE) as clinical_fte,
        nullif(trim(timezone), '') as timezone_text
    from raw
),

checked as (
    select
        *,
        case
            when clinician_id is null then 'missing clinician_id'
            when clinical_fte_text is not null and clinical_fte is null
                then 'unparseable clinical_fte ' || clinical_fte_text
            when clinical_fte is not null and not wow_fte_in_range(clinical_fte)
                then 'clinical_fte ' || clinical_fte_text || ' out of range (0, 1.5]'
            when timezone_text is not null and timezone_text not in (select name from zones)
                then 'unknown time zone ' || timezone_text
        end as reject_reason
    from cleaned
)

select
    source_file, source_line::BIGINT as source_line, clinician_id,
    coalesce(department, 'unknown') as department, specialty, role, clinical_fte,
    coalesce(timezone_text, $default_timezone) as timezone,
    reject_reason,
    reject_reason is null and row_number() over (
        partition by clinician_id, reject_reason is null order by source_file desc, source_line desc
    ) > 1 as is_replaced
from checked
