DROP TABLE runs;
DROP FUNCTION runs_record_deletion();
DROP TABLE run_deletions;
DROP TABLE run_instances;
