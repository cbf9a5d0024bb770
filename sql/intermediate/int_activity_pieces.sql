-- int_activity_pieces
-- Grain: one row per event interval and calendar segment it overlaps.
-- Each interval is cut at every calendar edge (SPEC 5) and each piece attributed on its own,
-- in whole microseconds. `is_event_start` marks the piece holding the event's own instant.
-- Scope: partition
-- Materialized: view
with intervals as (select * from int_event_intervals),
segments as (select * from int_calendar_segments),

-- Each segment under every UTC hour it overlaps, so that the segment holding an instant is
-- found by a hash join on (clinician, hour) and a range check among the hour's few segments.
-- Segments are contiguous and cover every event's dates, so it is the segment an as-of join
-- on the start would find; a hash join needs no sort of the intervals.
segment_hours as (
    select
        *,
        unnest(generate_series(epoch_us(segment_start_at) // 3600000000,
                               (epoch_us(segment_end_at) - 1) // 3600000000)) as hour_no
    from segments
),

first_segment as (
    select
        i.*,
        s.segment_no as first_segment_no,
        s.segment_start_at,
        s.segment_end_at,
        s.activity_date,
        s.is_pajama,
        s.is_scheduled,
        s.is_in_window
    from intervals i
    join segment_hours s
        on s.clinician_id = i.clinician_id
        and s.hour_no = epoch_us(i.start_at) // 3600000000
        and i.start_at >= s.segment_start_at and i.start_at < s.segment_end_at
),

-- Nearly every interval ends within the segment it starts in: one piece, no further join.
within as (
    select
        clinician_id,
        activity_date,
        true as is_event_start,
        is_active,
        category,
        is_prescription,
        is_pajama,
        is_scheduled,
        is_in_window,
        greatest(
            epoch_us(least(end_at, segment_end_at)) - epoch_us(greatest(start_at, segment_start_at)),
            0
        ) as piece_us
    from first_segment
    where end_at <= segment_end_at
),

last_segment as (
    select f.* exclude (segment_start_at, segment_end_at, activity_date, is_pajama,
                        is_scheduled, is_in_window),
           s.segment_no as last_segment_no
    from first_segment f
    asof join segments s
        on f.clinician_id = s.clinician_id and f.end_at > s.segment_start_at
    where f.end_at > f.segment_end_at
),

spread as (
    select
        *,
        unnest(generate_series(first_segment_no, greatest(first_segment_no, last_segment_no)))
            as segment_no
    from last_segment
),

crossing as (
    select
        p.clinician_id,
        s.activity_date,
        p.segment_no = p.first_segment_no as is_event_start,
        p.is_active,
        p.category,
        p.is_prescription,
        s.is_pajama,
        s.is_scheduled,
        s.is_in_window,
        greatest(
            epoch_us(least(p.end_at, s.segment_end_at)) - epoch_us(greatest(p.start_at, s.segment_start_at)),
            0
        ) as piece_us
    from spread p
    join segments s on s.clinician_id = p.clinician_id and s.segment_no = p.segment_no
)

select * from within
union all
select * from crossing
