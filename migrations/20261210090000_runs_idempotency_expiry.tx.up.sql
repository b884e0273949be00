-- Idempotency-Keys expire (runs.idempotency_ttl): the sweep forgets the
-- keys of runs created before a time, oldest first, across every owner.
CREATE INDEX runs_idempotency_created_at_idx ON runs (created_at)
    WHERE idempotency_key IS NOT NULL;
