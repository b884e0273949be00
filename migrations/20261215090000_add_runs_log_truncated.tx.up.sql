-- A run whose log reached runs.max_log_bytes: the stored log ends with a
-- marker line and the agent's further output was discarded.
ALTER TABLE runs ADD COLUMN log_truncated boolean NOT NULL DEFAULT false;
