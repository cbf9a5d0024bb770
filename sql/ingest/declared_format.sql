-- ingest_declared_format
-- Grain: one row per data record of one or more extract files (a file read alone, or a batch
-- of one format's files read in one pass: ingest/batch.py), of any format declared in
-- schemas/formats/*.yml (or a site's <landing>/formats/*.yml).
-- Parses and checks each record; `reject_reason` is NULL for a good row, else why it goes to
-- quarantine. Patient ids arrive here already replaced by keyed hashes (SPEC 7); encounter ids
-- were checked as the file was read and are not here (nothing after the ingest uses them). A
-- reason never echoes a value that failed to parse: it gives the value's shape (digits as
-- 9, letters as A), since a shifted column can put a patient id where a time should be.
-- Inputs: raw_events (source_file, source_line and one VARCHAR column per role: clinician_id,
--         action, report_name, category, workstation_id, metric_id, process_id, time_1, time_2;
--         patient_key UBIGINT; absent ones NULL; and id_problem: why the row's patient id got
--         no key or its encounter id is unusable, already worded, or NULL; extra_newlines:
--         the record's embedded line ends as its reader counted them, passed through, which
--         tells the batch reader which files to read alone).
-- Params: $time_column_1/2 (the declared time columns, for messages), $time_zone_1/2 (where a
--         time without an offset is read: UTC for utc_instant, else default_timezone),
--         $time_is_local_1/2, $time_columns_text, $clinician_column, $action_column,
--         $use_iso8601, $use_patterns, $patterns (strptime wall-clock patterns),
--         $not_after (latest plausible instant), $not_before,
--         $check_values (some id or text value of the file is too long or holds a control
--         character: check every row's; false skips the checks on clean files), $max_id_chars,
--         $max_text_chars, $report_name_column, $workstation_column, $metric_column,
--         $process_column
with raw as (select * from raw_events),

trimmed as (
    select
        source_file,
        source_line,
        extra_newlines,
        wow_clean_id(clinician_id) as clinician_id,
        wow_clean(time_1) as time_text_1,
        wow_clean(time_2) as time_text_2,
        wow_clean(action) as action,
        coalesce(wow_clean(report_name), '') as report_name,
        lower(wow_clean(category)) as category_raw,
        patient_key,
        coalesce(wow_clean(workstation_id), '') as workstation_id,
        wow_clean(metric_id) as metric_id,
        wow_clean(process_id) as process_id,
        id_problem
    from raw
),

-- The first declared time column holding a value is the event's time: a value that does not
-- parse is not replaced by the next column.
chosen as (
    select
        *,
        case when time_text_1 is not null then 1 when time_text_2 is not null then 2 end as time_slot,
        coalesce(time_text_1, time_text_2) as time_text
    from trimmed
),

slotted as (
    select
        *,
        case when time_slot = 2 then $time_column_2 else $time_column_1 end as time_column,
        case when time_slot = 2 then $time_zone_2 else $time_zone_1 end as naive_zone,
        case when time_slot = 2 then $time_is_local_2 else $time_is_local_1 end as is_local,
        -- Fast path: ISO-8601 without an offset (most rows of most extracts) is DuckDB's own
        -- timestamp text. Its cast would drop an offset, so texts that may carry one (or are
        -- not date-and-time shaped) take the full reading below.
        case
            when $use_iso8601 and length(time_text) between 16 and 26
                 and substr(time_text, 5, 1) = '-' and substr(time_text, 8, 1) = '-'
                 and substr(time_text, 11, 1) in ('T', ' ')
                 and not contains(substr(time_text, 12), '-')
                 and not contains(time_text, '+')
                 and right(time_text, 1) between '0' and '9'
                then try_cast(time_text as TIMESTAMP)
        end as iso_plain_wall
    from chosen
),

offsets as (
    select
        *,
        -- Second fast path: ISO-8601 with seconds, an optional fraction of up to 6 digits and
        -- a 'Z' or '+HH:MM' offset (what most exporters write) is DuckDB's TIMESTAMPTZ text,
        -- read with its offset. The part before the offset is 19 characters, or 21 to 26 with
        -- a '.' as the 20th. DuckDB takes any offset ('+99:00'), so only those a real clock
        -- shows (-12:00 to +14:00, minutes under 60) go this way. NULL sends a text to the
        -- full reading, which gives the same instant or, for an impossible offset, none
        -- (tests/unit/test_hostile_input.py compares the two).
        case
            -- A text the first fast path read is not read again (the two shapes exclude each
            -- other: that one has no offset).
            when iso_plain_wall is not null then null
            when $use_iso8601
                 and substr(time_text, 5, 1) = '-' and substr(time_text, 8, 1) = '-'
                 and substr(time_text, 11, 1) in ('T', ' ')
                 and substr(time_text, 14, 1) = ':' and substr(time_text, 17, 1) = ':'
                 and (right(time_text, 1) = 'Z'
                      or (substr(time_text, -6, 1) in ('+', '-') and substr(time_text, -3, 1) = ':'))
                 and length(time_text) - (case when right(time_text, 1) = 'Z' then 1 else 6 end)
                     in (19, 21, 22, 23, 24, 25, 26)
                 and (length(time_text) in (20, 25) or substr(time_text, 20, 1) = '.')
                 and (right(time_text, 1) = 'Z'
                      or (substr(time_text, -2) < '60'
                          and substr(time_text, -5) <= case when substr(time_text, -6, 1) = '+'
                                                            then '14:00' else '12:00' end))
                then try_cast(time_text as TIMESTAMPTZ)
        end as iso_offset_at
    from slotted
),

-- CASE, not coalesce over eager operands: each later reading runs only on rows the earlier
-- ones could not read.
walled as (
    select
        *,
        case
            when iso_plain_wall is null and iso_offset_at is null and $use_iso8601
                then wow_iso_parts(time_text)
        end as parts
    from offsets
),

readings as (
    select
        *,
        case
            when iso_plain_wall is not null then iso_plain_wall
            when iso_offset_at is not null then make_timestamp(epoch_us(iso_offset_at))
            when wow_iso_wall(parts) is not null then wow_iso_wall(parts)
            when $use_patterns then coalesce(try_strptime(time_text, $patterns[1]),
                                             try_strptime(time_text, $patterns))
        end as wall_at,
        case
            when iso_offset_at is not null then 'Z'
            when iso_plain_wall is null and wow_iso_wall(parts) is not null
                then coalesce(parts.tz, '')
            else ''
        end as offset_text
    from walled
),

instants as (
    select
        *,
        case
            when wall_at is null then null
            when iso_offset_at is not null then iso_offset_at
            when offset_text <> '' then wow_iso_instant(wall_at, offset_text, 'UTC')
            when not is_local or naive_zone = 'UTC' then make_timestamptz(epoch_us(wall_at))
            else wow_local_to_instant(naive_zone, wall_at)
        end as event_at,
        -- CASE, not AND: DuckDB evaluates every operand of AND on every row, and the ICU probes
        -- are only needed for local wall-clock times in a zone with DST.
        case
            when offset_text = '' and is_local and naive_zone <> 'UTC' and wall_at is not null
                then wow_is_ambiguous_local(naive_zone, wall_at)
            else false
        end as is_time_ambiguous
    from readings
),

-- Values no format can use: an identifier over $max_id_chars characters or text over
-- $max_text_chars, or one holding a control character (a NUL byte, an escape). Checked row by
-- row only in a file that has one ($check_values): the checks cost as much as the parse.
valued as (
    select
        *,
        case when $check_values then wow_value_problem(clinician_id, $max_id_chars, false) end
            as clinician_problem,
        case when $check_values then coalesce(
            $action_column || ' ' || wow_value_problem(action, $max_text_chars, true),
            $report_name_column || ' ' || wow_value_problem(nullif(report_name, ''), $max_text_chars, true),
            $workstation_column || ' ' || wow_value_problem(wow_clean_id(workstation_id), $max_id_chars, false),
            $metric_column || ' ' || wow_value_problem(wow_clean_id(metric_id), $max_id_chars, false),
            $process_column || ' ' || wow_value_problem(wow_clean_id(process_id), $max_id_chars, false))
        end as value_problem
    from instants
),

checked as (
    select
        *,
        case
            when clinician_id is null then 'missing ' || $clinician_column
            when clinician_problem is not null then $clinician_column || ' ' || clinician_problem
            when id_problem is not null then id_problem
            when value_problem is not null then value_problem
            when time_text is null then 'missing ' || $time_columns_text
            when wall_at is null and $use_iso8601 and coalesce(parts.tz, '') <> ''
                 and not wow_offset_is_valid(parts.tz)
                then time_column || ' has a UTC offset outside -12:00 to +14:00 (value '
                     || wow_value_shape(time_text) || ')'
            when wall_at is null
                then 'unparseable ' || time_column || ' (value ' || wow_value_shape(time_text) || ')'
            when event_at is null
                then time_column || ' ' || time_text || ' does not exist in ' || naive_zone
                     || ' (DST gap)'
            when action is null then 'missing ' || $action_column
            when event_at < $not_before then time_column || ' ' || time_text || ' is before 1990'
            when event_at > $not_after then time_column || ' ' || time_text || ' is in the future'
            when category_raw is not null
                 and category_raw not in ('inbox', 'notes', 'orders', 'chart_review', 'other', 'exclude')
                then 'unknown category (value ' || wow_value_shape(category_raw) || ')'
        end as reject_reason
    from valued
)

select
    source_file,
    source_line::BIGINT as source_line,
    extra_newlines::INTEGER as extra_newlines,
    -- An id that is itself the problem is never shown, not even in quarantine.
    case when clinician_problem is null then clinician_id end as clinician_id,
    event_at::TIMESTAMPTZ as event_at,
    action,
    report_name,
    category_raw,
    patient_key,
    workstation_id,
    metric_id,
    process_id,
    coalesce(is_time_ambiguous, false) as is_time_ambiguous,
    reject_reason
from checked
