-- ingest_canonical
-- Grain: one row per data record of one `canonical` extract file (SPEC 1.1).
-- Parses and checks each record; `reject_reason` is NULL for a good row, else why it goes to
-- quarantine. Patient ids leave this query only as keyed hashes (SPEC 7).
-- Inputs: raw_events (source_line and the file's columns, all VARCHAR, absent ones NULL),
--         pseudonym_pads (the HMAC key's inner and outer pads).
-- Params: $default_timezone, $not_after (latest plausible instant), $not_before
with raw as (select * from raw_events),
pads as (select * from pseudonym_pads),

trimmed as (
    select
        source_line,
        nullif(trim(clinician_id), '') as clinician_id,
        nullif(trim(event_time), '') as event_time_text,
        nullif(trim(action), '') as action,
        nullif(lower(trim(category)), '') as category_raw,
        nullif(trim(patient_id), '') as patient_id,
        coalesce(trim(workstation_id), '') as workstation_id
    from raw
),

parsed as (
    select *, wow_iso_parts(event_time_text) as parts from trimmed
),

walled as (
    select *, wow_iso_wall(parts) as wall_at, parts.tz as offset_text from parsed
),

instants as (
    select
        *,
        wow_iso_instant(wall_at, offset_text, $default_timezone) as event_at,
        -- CASE, not AND: DuckDB evaluates every operand of AND on every row.
        case
            when offset_text = '' and wall_at is not null
                then wow_is_ambiguous_local($default_timezone, wall_at)
            else false
        end as is_time_ambiguous
    from walled
),

checked as (
    select
        *,
        case
            when clinician_id is null then 'missing clinician_id'
            when event_time_text is null then 'missing event_time'
            when wall_at is null then 'unparseable event_time ' || event_time_text
            when event_at is null
                then 'event_time ' || event_time_text || ' does not exist in '
                     || $default_timezone || ' (DST gap)'
            when action is null then 'missing action'
            when event_at < $not_before then 'event_time ' || event_time_text || ' is before 1990'
            when event_at > $not_after then 'event_time ' || event_time_text || ' is in the future'
            when category_raw is not null
                 and category_raw not in ('inbox', 'notes', 'orders', 'chart_review', 'other', 'exclude')
                then 'unknown category ' || category_raw
        end as reject_reason
    from instants
),

-- HMAC-SHA256(key, id) = sha256(opad || sha256(ipad || id)), once per distinct identifier.
patient_keys as (
    select patient_id, sha256(pads.opad || unhex(sha256(pads.ipad || encode(patient_id)))) as patient_key
    from (select distinct patient_id from checked where patient_id is not null), pads
)

select
    c.source_line::BIGINT as source_line,
    c.clinician_id,
    c.event_at::TIMESTAMPTZ as event_at,
    c.action,
    ''::VARCHAR as report_name,
    c.category_raw,
    p.patient_key,
    c.workstation_id,
    null::VARCHAR as metric_id,
    null::VARCHAR as process_id,
    null::VARCHAR as csn_key,
    coalesce(c.is_time_ambiguous, false) as is_time_ambiguous,
    c.reject_reason
from checked c
left join patient_keys p using (patient_id)
