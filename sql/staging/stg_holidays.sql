-- stg_holidays
-- Grain: one row per data line of reference/holidays.csv. A date listed twice is one holiday.
-- Scope: reference
-- Materialized: table
with raw as (select * from raw_holidays),

cleaned as (
    select
        source_file, source_line,
        nullif(trim(date), '') as date_text,
        try_cast(nullif(trim(date), '') as DATE) as holiday_date,
        nullif(trim(name), '') as holiday_name
    from raw
),

checked as (
    select
        *,
        case
            when date_text is null then 'missing date'
            when holiday_date is null then 'unparseable date ' || date_text
        end as reject_reason
    from cleaned
)

select
    source_file, source_line::BIGINT as source_line, holiday_date, holiday_name, reject_reason,
    reject_reason is null and row_number() over (
        partition by holiday_date, reject_reason is null order by source_file, source_line
    ) > 1 as is_duplicate
from checked
