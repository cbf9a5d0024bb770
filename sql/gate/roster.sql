-- roster
-- Grain: one row per rostered clinician_id: the accepted rows of stg_roster (reject_reason NULL
-- and not is_replaced; those two bookkeeping columns dropped). What schemas/contracts/roster.yml
-- describes and the publication gate checks.
-- Scope: publication
-- Materialized: view
-- Inputs: stg_roster.
select * exclude (reject_reason, is_replaced) from stg_roster
where reject_reason is null and not is_replaced
