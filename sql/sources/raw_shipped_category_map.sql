-- raw_shipped_category_map
-- Grain: one row per data line of the shipped action maps (schemas/action_maps/*.csv: data, not
-- code), as read, with the columns of raw_category_map; stg_category_map checks them the same way.
-- Declared empty here, then filled file by file in file-name order (reference_csv_rows).
-- Scope: reference
-- Materialized: table
-- Inputs: raw_category_map (for its columns only).
select * from raw_category_map where false
