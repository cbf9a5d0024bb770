-- macros
-- Shared scalar macros, created before any model runs (ingest and build connections).
-- Local wall-clock times are converted with ICU's real tz rules. ICU resolves a time in the
-- repeated DST hour to the *later* instant and a time in the skipped hour forward by the gap;
-- the SPEC wants the earlier instant for repeated times, so the macros probe one hour (and
-- half an hour, for zones like Australia/Lord_Howe) back.

-- True when the wall-clock time lt never occurs in zone tz (it falls in a DST gap).
create or replace macro wow_is_nonexistent_local(tz, lt) as
    timezone(tz, timezone(tz, lt)) <> lt;

-- True when the wall-clock time lt occurs twice in zone tz (the repeated DST hour).
create or replace macro wow_is_ambiguous_local(tz, lt) as
    timezone(tz, timezone(tz, lt) - interval 60 minute) = lt
    or timezone(tz, timezone(tz, lt) + interval 60 minute) = lt
    or timezone(tz, timezone(tz, lt) - interval 30 minute) = lt
    or timezone(tz, timezone(tz, lt) + interval 30 minute) = lt;

-- The first instant whose local wall clock in tz reads lt or later: a day or workday edge;
-- the earlier instant when lt occurs twice. Edges inside a DST gap take ICU's forward mapping
-- (local midnight in a zone that skips it becomes the first instant of that date, which is
-- what the SPEC asks).
create or replace macro wow_local_edge(tz, lt) as
    case
        when timezone(tz, timezone(tz, lt) - interval 60 minute) = lt
            then timezone(tz, lt) - interval 60 minute
        when timezone(tz, timezone(tz, lt) - interval 30 minute) = lt
            then timezone(tz, lt) - interval 30 minute
        else timezone(tz, lt)
    end;

-- The instant of wall-clock time lt in zone tz; the earlier one when it occurs twice;
-- NULL when it never occurs.
create or replace macro wow_local_to_instant(tz, lt) as
    case
        when lt is null or wow_is_nonexistent_local(tz, lt) then null
        else wow_local_edge(tz, lt)
    end;

-- Minutes east of UTC of an ISO-8601 offset text: '+05:30', '-0500', '+01', 'Z' or ''.
create or replace macro wow_offset_minutes(tz_text) as
    case
        when coalesce(tz_text, '') in ('', 'Z', 'z') then 0
        else (case when left(tz_text, 1) = '-' then -1 else 1 end)
            * (cast(substr(tz_text, 2, 2) as INTEGER) * 60
               + coalesce(cast(nullif(substr(replace(tz_text, ':', ''), 4, 2), '') as INTEGER), 0))
    end;

-- True when an offset text is one a real clock shows: -12:00 to +14:00, minutes under 60
-- ('Z' and no offset too). '+99:00' or '+15:00' would move the instant by days or hours.
create or replace macro wow_offset_is_valid(tz_text) as
    coalesce(tz_text, '') in ('', 'Z', 'z')
    or (coalesce(cast(nullif(substr(replace(tz_text, ':', ''), 4, 2), '') as INTEGER), 0) < 60
        and wow_offset_minutes(tz_text) between -12 * 60 and 14 * 60);

-- The parts of an ISO-8601 time text: struct(d, t, frac, tz), all '' when it does not match
-- YYYY-MM-DD[T ]HH:MM[:SS][.fraction][Z|+HH[:MM]].
create or replace macro wow_iso_parts(txt) as
    regexp_extract(
        txt,
        '^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}(?::\d{2})?)(?:[.,](\d{1,9}))?\s*(Z|z|[+-]\d{2}(?::?\d{2})?)?$',
        ['d', 't', 'frac', 'tz']
    );

-- The wall-clock TIMESTAMP of ISO parts (fractions beyond microseconds truncated), or NULL;
-- NULL too when the offset is not one a real clock shows (wow_offset_is_valid).
create or replace macro wow_iso_wall(parts) as
    case when wow_offset_is_valid(parts.tz) then try_cast(
        parts.d || ' ' || parts.t
        || case when parts.frac <> '' then '.' || left(parts.frac, 6) else '' end
        as TIMESTAMP
    ) end;

-- The instant of a parsed ISO time: by its offset when it has one, else as wall clock in tz.
create or replace macro wow_iso_instant(wall, offset_text, tz) as
    case
        when wall is null then null
        when offset_text <> '' then make_timestamptz(epoch_us(wall) - 60000000::BIGINT * wow_offset_minutes(offset_text))
        else wow_local_to_instant(tz, wall)
    end;

-- The first date of the reporting period holding date d: calendar month, or ISO week (Monday).
create or replace macro wow_period_start(d, period) as
    cast(case when period = 'week' then date_trunc('week', d) else date_trunc('month', d) end as DATE);


-- The lake bucket of a clinician (one of wow_metrics.lake.N_BUCKETS = 16): md5_number(clinician_id)
-- % 16, as the canonical_events contract states it, computed as its low four bits: the same
-- number, but DuckDB's modulo of a 128-bit unsigned integer costs ~2.5 us a row and the mask
-- next to none (0.6 s over a 150k-row schedule, in every build task). The ingest uses it too
-- (sql/ingest/clinician_buckets.sql); tests/unit/test_partitions.py holds it to the contract.
create or replace macro wow_clinician_bucket(clinician_id) as
    cast(md5_number(clinician_id) & 15 as INTEGER);

-- A text field trimmed of spaces; NULL when blank.
create or replace macro wow_clean(txt) as nullif(trim(txt), '');

-- An identifier trimmed of spaces, tabs, line ends and no-break spaces; NULL when blank.
create or replace macro wow_clean_id(txt) as
    nullif(trim(txt, ' ' || chr(9) || chr(10) || chr(13) || chr(160)), '');

-- The shape of a value that failed to parse, safe to publish: digits become 9, letters A,
-- control characters ? (a NUL or an escape sequence never reaches a reason), other characters
-- stay; at most 40 characters. (The value itself may be PHI in the wrong column.)
create or replace macro wow_value_shape(txt) as
    '"' || left(regexp_replace(regexp_replace(regexp_replace(txt, '[0-9]', '9', 'g'), '\pL', 'A', 'g'),
                               '[\x00-\x1f\x7f-\x9f]', '?', 'g'), 40)
    || case when length(txt) > 40 then '...' else '' end || '"';

-- Why a value cannot be kept, or NULL: longer than max_chars characters, or holding a control
-- character (C0, DEL or C1; tab and line breaks are allowed inside text only when
-- allow_breaks). Never shows the value: a phantom clinician id or a patient id in the wrong
-- column must not reach a reason.
create or replace macro wow_value_problem(txt, max_chars, allow_breaks) as
    case
        when txt is null then null
        when length(txt) > max_chars
            then 'has ' || length(txt) || ' characters (at most ' || max_chars || ')'
        when regexp_matches(txt, '[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]')
            then 'contains a control character (U+'
                 || printf('%04X', unicode(regexp_extract(txt, '[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]')))
                 || ')'
        when not allow_breaks and regexp_matches(txt, '[\t\n\r]')
            then 'contains a control character (U+'
                 || printf('%04X', unicode(regexp_extract(txt, '[\t\n\r]'))) || ')'
    end;

-- The ranges of SPEC 1.3 and 1.4, stated once: staging rejects the rows outside them, and the
-- contracts check the accepted and published rows with the same macros (two statements of one
-- rule drift apart: a roster FTE of 1e-9 once passed staging and failed the gate).
-- A clinical FTE in (0, 1.5].
create or replace macro wow_fte_in_range(fte) as fte > 0 and fte <= 1.5;
-- An appointment length in (0, 1440] minutes.
create or replace macro wow_duration_in_range(minutes) as minutes > 0 and minutes <= 1440;
