-- stg_category_map
-- Grain: one row per action-map row, shipped (schemas/action_maps) or from the landing zone.
-- A landing row replaces the shipped row with the same (format, action, report_name) (SPEC 3);
-- `is_effective` marks the rows lookups use. Actions match case-insensitively, trimmed.
-- Scope: reference
-- Materialized: table
with shipped as (select * from raw_shipped_category_map),
landing as (select * from raw_category_map),

unioned as (
    select 'shipped' as map_source, source_file, source_line, format, action, report_name,
           category, is_prescription, 0 as precedence
    from shipped
    union all
    select 'landing', source_file, source_line, format, action, report_name,
           category, is_prescription, 1
    from landing
),

cleaned as (
    select
        map_source, source_file, source_line, precedence,
        nullif(trim(format), '') as format,
        lower(trim(action)) as action_key,
        trim(action) as action,
        lower(coalesce(trim(report_name), '')) as report_name_key,
        lower(nullif(trim(category), '')) as category,
        lower(coalesce(nullif(trim(is_prescription), ''), 'false')) as is_prescription_text
    from unioned
),

checked as (
    select
        *,
        case
            when format is null then 'missing format'
            when nullif(action_key, '') is null then 'missing action'
            when category is null then 'missing category'
            when category not in ('inbox', 'notes', 'orders', 'chart_review', 'other', 'exclude')
                then 'unknown category ' || category
            when is_prescription_text not in ('true', 'false')
                then 'is_prescription must be true or false, got ' || is_prescription_text
        end as reject_reason
    from cleaned
),

ranked as (
    select
        *,
        row_number() over (
            partition by format, action_key, report_name_key
            order by precedence desc, source_file desc, source_line desc
        ) as rank_in_key
    from checked
    where reject_reason is null
)

select
    c.map_source, c.source_file, c.source_line::BIGINT as source_line, c.format, c.action,
    c.action_key, c.report_name_key, c.category,
    (c.is_prescription_text = 'true' and c.category = 'orders') as is_prescription,
    c.reject_reason,
    coalesce(r.rank_in_key = 1, false) as is_effective
from checked c
left join ranked r using (source_file, source_line, map_source)
