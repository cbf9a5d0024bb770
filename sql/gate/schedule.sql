-- schedule
-- Grain: one row per accepted appointment_id: the rows of stg_schedule neither rejected nor
-- replaced (those two bookkeeping columns dropped). What schemas/contracts/schedule.yml
-- describes and the publication gate checks.
-- Scope: publication
-- Materialized: view
-- Inputs: stg_schedule.
select * exclude (reject_reason, is_replaced) from stg_schedule
where reject_reason is null and not is_replaced
