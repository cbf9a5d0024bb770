-- int_event_intervals
-- Grain: one row per timeline event: the interval from it to the next event of the clinician.
-- SPEC 4: events at one instant are ordered by action, then workstation_id (code-point order,
-- empty first; then report, file and line, so the order is total). The interval is active time
-- of the event's category when the gap is at most the idle threshold; otherwise idle, and the
-- last event contributes nothing. Idle and last events keep a zero-length interval
-- (`end_at` = `start_at`) so that every event is still counted on its date.
-- Scope: partition
-- Materialized: view
-- Params: $idle_threshold_us
with events as (select * from int_timeline_events),

ordered as (
    select
        clinician_id,
        event_at as start_at,
        lead(event_at) over (
            partition by clinician_id
            order by event_at, action, workstation_id, report_name, source_file, source_line
        ) as next_event_at,
        category,
        is_prescription
    from events
)

select
    clinician_id,
    start_at,
    case
        when epoch_us(next_event_at) - epoch_us(start_at) <= $idle_threshold_us then next_event_at
        else start_at
    end as end_at,
    coalesce(epoch_us(next_event_at) - epoch_us(start_at) <= $idle_threshold_us, false) as is_active,
    category,
    is_prescription
from ordered
