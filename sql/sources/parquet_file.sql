-- parquet_file
-- Grain: one row per row of one Parquet file the run wrote earlier (a staged reference table,
-- the previous state's, the build scope): loaded as it was written, as the table it was.
-- Scope: any step (warehouse.load_parquet)
-- Materialized: table
-- Params: $parquet_file
select * from read_parquet($parquet_file)
