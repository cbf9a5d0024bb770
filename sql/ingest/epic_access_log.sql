-- ingest_epic_access_log
-- Grain: one row per data record of one `epic_access_log` extract file (SPEC 1.2).
-- ACCESS_INSTANT is a UTC instant; ACCESS_TIME (server wall clock in default_timezone) is used
-- only where ACCESS_INSTANT is empty, taking the earlier instant in the repeated DST hour and
-- flagging the row. PAT_ID and CSN leave this query only as keyed hashes (SPEC 7).
-- Inputs: raw_events, pseudonym_pads. Params: $default_timezone, $not_after, $not_before
with raw as (select * from raw_events),
pads as (select * from pseudonym_pads),

trimmed as (
    select
        source_line,
        nullif(trim(USER_ID), '') as clinician_id,
        nullif(trim(ACCESS_INSTANT), '') as access_instant_text,
        nullif(trim(ACCESS_TIME), '') as access_time_text,
        nullif(trim(METRIC_ID), '') as metric_id,
        nullif(trim(METRIC_NAME), '') as action,
        coalesce(trim(REPORT_NAME), '') as report_name,
        nullif(trim(PAT_ID), '') as patient_id,
        coalesce(trim(WORKSTATION_ID), '') as workstation_id,
        nullif(trim(PROCESS_ID), '') as process_id,
        nullif(trim(CSN), '') as csn
    from raw
),

parsed as (
    select
        *,
        try_cast(access_instant_text as TIMESTAMP) as instant_wall_utc,
        try_cast(access_time_text as TIMESTAMP) as server_wall_at
    from trimmed
),

instants as (
    select
        *,
        case
            when access_instant_text is not null then timezone('UTC', instant_wall_utc)
            else wow_local_to_instant($default_timezone, server_wall_at)
        end as event_at,
        -- CASE, not AND: DuckDB evaluates every operand of AND on every row, and the ICU probes
        -- are only needed for the few rows without ACCESS_INSTANT.
        case
            when access_instant_text is null and server_wall_at is not null
                then wow_is_ambiguous_local($default_timezone, server_wall_at)
            else false
        end as is_time_ambiguous
    from parsed
),

checked as (
    select
        *,
        case
            when clinician_id is null then 'missing USER_ID'
            when access_instant_text is null and access_time_text is null
                then 'missing ACCESS_INSTANT and ACCESS_TIME'
            when access_instant_text is not null and instant_wall_utc is null
                then 'unparseable ACCESS_INSTANT ' || access_instant_text
            when access_instant_text is null and server_wall_at is null
                then 'unparseable ACCESS_TIME ' || access_time_text
            when event_at is null
                then 'ACCESS_TIME ' || access_time_text || ' does not exist in '
                     || $default_timezone || ' (DST gap)'
            when action is null then 'missing METRIC_NAME'
            when event_at < $not_before
                then 'access time ' || coalesce(access_instant_text, access_time_text) || ' is before 1990'
            when event_at > $not_after
                then 'access time ' || coalesce(access_instant_text, access_time_text) || ' is in the future'
        end as reject_reason
    from instants
),

-- HMAC-SHA256(key, id) = sha256(opad || sha256(ipad || id)), once per distinct identifier.
patient_keys as (
    select patient_id, sha256(pads.opad || unhex(sha256(pads.ipad || encode(patient_id)))) as patient_key
    from (select distinct patient_id from checked where patient_id is not null), pads
),

csn_keys as (
    select csn, sha256(pads.opad || unhex(sha256(pads.ipad || encode('csn:' || csn)))) as csn_key
    from (select distinct csn from checked where csn is not null), pads
)

select
    c.source_line::BIGINT as source_line,
    c.clinician_id,
    c.event_at::TIMESTAMPTZ as event_at,
    c.action,
    c.report_name,
    null::VARCHAR as category_raw,
    p.patient_key,
    c.workstation_id,
    c.metric_id,
    c.process_id,
    k.csn_key,
    coalesce(c.is_time_ambiguous, false) as is_time_ambiguous,
    c.reject_reason
from checked c
left join patient_keys p using (patient_id)
left join csn_keys k using (csn)
