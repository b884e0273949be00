-- Projects belong to a user; deleting the user deletes their projects.
CREATE TABLE projects (
    id          text COLLATE "C" PRIMARY KEY CHECK (char_length(id) BETWEEN 1 AND 200),
    owner_id    text COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name        text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    description text NOT NULL DEFAULT '' CHECK (char_length(description) <= 2000),
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);

-- GET /v1/projects: one owner's projects by (created_at, id). It also serves
-- the foreign key's cascade from users.
CREATE INDEX projects_owner_id_created_at_id_idx ON projects (owner_id, created_at, id);

-- GET /v1/projects?all=true: every project by (created_at, id).
CREATE INDEX projects_created_at_id_idx ON projects (created_at, id);
