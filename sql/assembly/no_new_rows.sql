-- no_new_rows
-- Grain: no rows: new_rows when an incremental build had nothing to rebuild (no build task
-- ran), with the columns of the previous publication's rows. Run as new_rows.
-- Scope: publication
-- Materialized: view
select * from previous_rows where false
