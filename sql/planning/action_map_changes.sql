-- action_map_changes
-- Grain: one row per effective action-map entry (format, action, report, category,
-- prescription flag) found in only one of this run's map and the last publication's.
-- Any row means the action map changed: every figure may move, so everything is rebuilt.
-- Scope: planning
-- Materialized: table
-- Params: $current_map_file, $published_map_file (stg_category_map Parquet files)
with current_map as (
    select format, action_key, report_name_key, category, is_prescription
    from read_parquet($current_map_file) where is_effective
),
published_map as (
    select format, action_key, report_name_key, category, is_prescription
    from read_parquet($published_map_file) where is_effective
)
(select * from current_map except select * from published_map)
union all
(select * from published_map except select * from current_map)
