-- Agent runs. A run belongs to a repository (and its project); deleting
-- either deletes its runs, and a trigger records each deleted run so the
-- runs module removes its log and patch from the object store.
CREATE TABLE runs (
    id               text COLLATE "C" PRIMARY KEY CHECK (char_length(id) BETWEEN 1 AND 200),
    project_id       text COLLATE "C" NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    repository_id    text COLLATE "C" NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    owner_id         text COLLATE "C" NOT NULL,
    status           text NOT NULL CHECK (status IN ('queued', 'preparing', 'running', 'succeeded',
                                                     'failed', 'canceled', 'timed_out', 'interrupted')),
    prompt           text NOT NULL CHECK (octet_length(prompt) BETWEEN 1 AND 65536),
    -- '' means the remote's default branch, until the clone names it.
    branch           text NOT NULL DEFAULT '' CHECK (octet_length(branch) <= 255),
    timeout_seconds  integer NOT NULL CHECK (timeout_seconds > 0),
    idempotency_key  text CHECK (octet_length(idempotency_key) BETWEEN 1 AND 255),
    request_hash     text,
    exit_code        integer,
    error            text NOT NULL DEFAULT '',
    cancel_requested boolean NOT NULL DEFAULT false,
    instance_id      text COLLATE "C" NOT NULL DEFAULT '',
    container_id     text NOT NULL DEFAULT '',
    created_at       timestamptz NOT NULL,
    started_at       timestamptz,
    finished_at      timestamptz
);

-- Idempotency-Key: one run per owner and key.
CREATE UNIQUE INDEX runs_owner_id_idempotency_key_key ON runs (owner_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;

-- GET /v1/runs: one owner's runs, optionally by status, by (created_at, id).
CREATE INDEX runs_owner_id_created_at_id_idx ON runs (owner_id, created_at, id);
CREATE INDEX runs_owner_id_status_created_at_id_idx ON runs (owner_id, status, created_at, id);

-- Filters by project or repository (and the cascades from them).
CREATE INDEX runs_project_id_created_at_id_idx ON runs (project_id, created_at, id);
CREATE INDEX runs_repository_id_created_at_id_idx ON runs (repository_id, created_at, id);

-- Queued runs oldest first (start-up), active runs (recovery), all=true&status=.
CREATE INDEX runs_status_created_at_id_idx ON runs (status, created_at, id);

-- The active runs of an owner, counted for the quota on every create.
CREATE INDEX runs_active_owner_id_idx ON runs (owner_id)
    WHERE status IN ('queued', 'preparing', 'running');

-- Process starts that work runs, with their heartbeat.
CREATE TABLE run_instances (
    id           text COLLATE "C" PRIMARY KEY,
    hostname     text NOT NULL,
    boot_id      text NOT NULL,
    pid          integer NOT NULL,
    started_at   timestamptz NOT NULL,
    heartbeat_at timestamptz NOT NULL
);

-- Runs deleted (directly or by a cascade) whose objects are still to be removed.
CREATE TABLE run_deletions (
    run_id     text COLLATE "C" PRIMARY KEY,
    deleted_at timestamptz NOT NULL
);

CREATE FUNCTION runs_record_deletion() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO run_deletions (run_id, deleted_at) VALUES (OLD.id, now()) ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;

CREATE TRIGGER runs_record_deletion AFTER DELETE ON runs
    FOR EACH ROW EXECUTE FUNCTION runs_record_deletion();
