-- Repositories belong to a project; deleting the project deletes them.
CREATE TABLE repositories (
    id             text COLLATE "C" PRIMARY KEY CHECK (char_length(id) BETWEEN 1 AND 200),
    project_id     text COLLATE "C" NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name           text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    url            text NOT NULL CHECK (char_length(url) BETWEEN 1 AND 2048),
    -- '' means the remote's default branch, resolved when a run clones.
    default_branch text NOT NULL DEFAULT '' CHECK (octet_length(default_branch) <= 255),
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL
);

-- GET /v1/projects/{id}/repositories: one project's repositories by
-- (created_at, id). It also serves the foreign key's cascade from projects.
CREATE INDEX repositories_project_id_created_at_id_idx ON repositories (project_id, created_at, id);
