-- raw_category_map
-- Grain: one row per data line of reference/category_map.csv, the landing zone's action map, as
-- read: every field VARCHAR (absent columns NULL), with its file and physical line.
-- stg_category_map checks them, with the shipped maps' (raw_shipped_category_map).
-- Declared empty here, then filled by the file if there is one (reference_csv_rows). format,
-- action and category are required of the file (wow_metrics.reference.REQUIRED_COLUMNS).
-- Scope: reference
-- Materialized: table
select
    null::VARCHAR as source_file,
    null::BIGINT as source_line,
    null::VARCHAR as format,
    null::VARCHAR as action,
    null::VARCHAR as category,
    null::VARCHAR as report_name,
    null::VARCHAR as is_prescription
where false
