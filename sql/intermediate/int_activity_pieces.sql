-- int_activity_pieces
-- Grain: one row per event interval and calendar segment it overlaps.
-- Each interval is cut at every calendar edge (SPEC 5) and each piece attributed on its own,
-- in whole microseconds. `is_event_start` marks the piece holding the event's own instant.
-- Scope: partition
-- Materialized: view
with intervals as (select * from int_event_intervals),
segments as (select * from int_calendar_segments),

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
    asof join segments s
        on i.clinician_id = s.clinician_id and i.start_at >= s.segment_start_at
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
