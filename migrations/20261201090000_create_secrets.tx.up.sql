-- Project secrets, encrypted: a row holds a ciphertext (AES-256-GCM: a
-- 12-byte nonce, then the sealed value of 4 to 65536 bytes with its 16-byte
-- tag) and the id of the key that sealed it, never a value. Deleting the
-- project deletes its secrets.
CREATE TABLE secrets (
    id         text COLLATE "C" PRIMARY KEY CHECK (char_length(id) BETWEEN 1 AND 200),
    project_id text COLLATE "C" NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name       text COLLATE "C" NOT NULL CHECK (name ~ '^[A-Z_][A-Z0-9_]{0,63}$'),
    key_id     text COLLATE "C" NOT NULL CHECK (key_id ~ '^[0-9a-f]{16}$'),
    ciphertext bytea NOT NULL CHECK (octet_length(ciphertext) BETWEEN 32 AND 65564),
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    -- One secret of a name per project; PUT replaces it. The index also
    -- serves the foreign key's cascade from projects.
    CONSTRAINT secrets_project_id_name_key UNIQUE (project_id, name)
);

-- GET /v1/projects/{id}/secrets: one project's secrets by (created_at, id).
CREATE INDEX secrets_project_id_created_at_id_idx ON secrets (project_id, created_at, id);
