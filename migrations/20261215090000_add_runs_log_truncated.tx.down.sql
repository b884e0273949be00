ALTER TABLE runs DROP COLUMN log_truncated;
