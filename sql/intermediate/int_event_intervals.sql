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
    -- One sort by clinician and instant. An event alone at its instant (nearly every event)
    -- takes the next instant from it; events sharing an instant are ordered in full below.
    -- The sort carries only what every event needs (narrow rows sort and are held faster); the
    -- tie-breaking columns are read again, by stg_events row, for the events sharing an instant.
    select
        clinician_id, event_at, category, is_prescription, stg_event_rowid,
        lead(event_at) over w as next_at,
        lag(event_at) over w as prev_at
    from events
    window w as (partition by clinician_id order by event_at)
),

tied_rows as (
    -- stg_events is joined itself, not through an import CTE: a rowid exists only on a table.
    select o.*, e.action, e.workstation_id, e.report_name, e.source_file, e.source_line
    from ordered o
    join stg_events e on e.rowid = o.stg_event_rowid
    where o.next_at = o.event_at or o.prev_at = o.event_at
),

tied as (
    -- The last at an instant in SPEC 4 order takes the next instant; the others end where
    -- they start. Whichever tied row the sort put last holds the next instant (or NULL).
    select
        clinician_id,
        event_at,
        category,
        is_prescription,
        case
            when row_number() over instant = count(*) over (partition by clinician_id, event_at)
                then max(case when next_at <> event_at then next_at end)
                     over (partition by clinician_id, event_at)
            else event_at
        end as next_event_at
    from tied_rows
    window instant as (
        partition by clinician_id, event_at
        order by action, workstation_id, report_name, source_file, source_line
    )
),

timeline as (
    select clinician_id, event_at, category, is_prescription, next_at as next_event_at
    from ordered
    where not coalesce(next_at = event_at or prev_at = event_at, false)
    union all
    select * from tied
)

select
    clinician_id,
    event_at as start_at,
    case
        when epoch_us(next_event_at) - epoch_us(event_at) <= $idle_threshold_us then next_event_at
        else event_at
    end as end_at,
    coalesce(epoch_us(next_event_at) - epoch_us(event_at) <= $idle_threshold_us, false) as is_active,
    category,
    is_prescription
from timeline
