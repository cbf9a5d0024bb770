-- lake_quarantine_files
-- Grain: one row per rejected row (or whole file, source_line NULL) in the lake's quarantine
-- files given (lake/quarantine/<sha>.parquet, one per live extract a declared format read).
-- Scope: publication
-- Materialized: view
-- Params: $quarantine_files (one or more quarantine files; see lake_quarantine_files_none)
select source_file, source_line, reason, clinician_id from read_parquet($quarantine_files)
